"""Other people's runs: escape sequences planted in every field of a run's files (a window title,
a clipboard write, a bell, a bidirectional override) never reach the terminal through any
printer or tab; files that are huge, deeply nested or not files at all are one warning each."""

from __future__ import annotations

import json
import os

from pathlib import Path

import pytest

from tests.support.waits import settle
from tests.support.runs import smtui
from tui_trainer.store.catalog import RunSummary
from tui_trainer.core.config import TrainConfig
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.store.watch import RunWatcher

OSC_TITLE = "\x1b]2;pwned\x1b\\"
OSC_CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07"
BIDI = "\u202e"
PLANTED = OSC_TITLE + OSC_CLIPBOARD + BIDI
RAW = ("\x1b", "\x07", "\u202e")


def hostile_run(folder) -> str:
    """A run directory whose name, config (a value and a key), status message and metrics rows
    carry escape sequences."""
    run = folder / f"20261130-100000-{OSC_TITLE}x"
    run.mkdir(parents=True)
    config = {**TrainConfig(epochs=2).to_dict(), "name": "n" + PLANTED,
              "key" + OSC_CLIPBOARD: "v" + PLANTED}
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.jsonl").write_text("".join(json.dumps(
        {"epoch": e, "train_loss": 0.5, "train_acc": 0.8, "test_acc": 0.8, "seconds": 1.0,
         "lr": 0.1, "note" + PLANTED: PLANTED}) + "\n" for e in (1, 2)))
    (run / "status.json").write_text(json.dumps({"state": "failed", "message": "m" + PLANTED}))
    return str(run)


def clean(text: str) -> bool:
    return not any(c in text for c in RAW)


def flat(value) -> str:
    """Every key and string of `value`, joined as they are (json.dumps would escape them)."""
    if isinstance(value, dict):
        return " ".join(flat(k) + " " + flat(v) for k, v in value.items())
    if isinstance(value, list):
        return " ".join(flat(v) for v in value)
    return str(value)


@pytest.mark.process
@pytest.mark.parametrize("args", [["compare", "--format", "table"], ["compare", "--format", "csv"],
                                  ["compare", "--format", "json"], ["compare", "--no-ui"],
                                  ["runs"], ["runs", "--json"]])
def test_no_printer_passes_a_planted_sequence(tmp_path, args):
    run = hostile_run(tmp_path / "runs")
    target = [run] if args[0] == "compare" else [str(tmp_path / "runs")]
    r = smtui(*args[:1], *target, *args[1:])
    assert r.returncode == 0, r.stderr
    assert clean(r.stdout) and clean(r.stderr), (r.stdout, r.stderr)
    assert "\\x1b]52" in r.stdout or "\\\\x1b]52" in r.stdout or args[0] == "runs"


def test_the_viewers_events_and_summaries_are_inert(tmp_path):
    run = hostile_run(tmp_path / "runs")
    events = RunWatcher(run).poll(evaluate=False)
    texts = [str(getattr(e, "text", "")) + str(getattr(e, "message", "")) +
             flat(getattr(e, "config", {}) or {}) for e in events]
    assert all(clean(t) for t in texts), texts
    summary = RunSummary.from_dir(run)
    assert clean(summary.name) and clean(flat(summary.config))
    assert not clean(flat(json.loads((Path(run) / "config.json").read_text())))   # planted


@pytest.mark.app
async def test_no_tab_of_compare_shows_a_planted_sequence(tmp_path):
    run = hostile_run(tmp_path / "runs")
    app = SmtuiApp(TrainConfig(device="cpu"), compare=[run])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        shown = [line.plain for line in app.log_view.texts]
        shown += [str(cell) for i in range(app.panels.runs_table.row_count)
                  for cell in app.panels.runs_table.get_row_at(i)]
        shown += [label for label, _, _ in app.panels.curves.overlays]
        shown += [str(app.panels.curves.legend())]
    assert all(clean(text) for text in shown), [t for t in shown if not clean(t)]


@pytest.mark.process
@pytest.mark.parametrize("kind", ["nested", "huge", "fifo", "zero"])
def test_malformed_run_files_are_one_warning_and_the_listing_goes_on(tmp_path, kind):
    """A config.json of 100,000 `[` (RecursionError, exit 70), a FIFO as status.json (blocked
    for ever), a metrics.jsonl linked to /dev/zero or one line of 8 MB (out of memory): each is
    one warning; `smtui runs` lists the run and exits 0."""
    run = tmp_path / "runs" / "20261130-100000-scratch"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TrainConfig(epochs=2).to_dict()))
    (run / "metrics.jsonl").write_text(json.dumps(
        {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, "test_acc": 0.8, "seconds": 1.0,
         "lr": 0.1}) + "\n")
    (run / "status.json").write_text(json.dumps({"state": "finished"}))
    if kind == "nested":
        (run / "config.json").write_text("[" * 100_000)
    elif kind == "huge":
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write('{"epoch": 2, "x": "' + "y" * 8_000_000 + '"}\n')
    elif kind == "fifo":
        (run / "status.json").unlink()
        os.mkfifo(run / "status.json")
    else:
        (run / "metrics.jsonl").unlink()
        (run / "metrics.jsonl").symlink_to("/dev/zero")
    r = smtui("runs", tmp_path / "runs", "--json", timeout=60)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["run"] == "20261130-100000-scratch"
    summary = RunSummary.from_dir(run)
    assert len(summary.problems) == 1, summary.problems


def test_a_settings_file_nested_too_deeply_is_one_warning(tmp_path):
    """The same `[` x 100,000 as settings.json made every run exit 70 (RecursionError)."""
    from tui_trainer.store.settings import load
    path = tmp_path / "settings.json"
    path.write_text("[" * 100_000)
    settings = load(path)
    assert settings.defaults == {} and settings.warnings == [
        f"settings file {path} is nested too deeply to be JSON smtui wrote: ignored"]
    path.write_text(json.dumps({"defaults": {"out": "runs" + OSC_CLIPBOARD}}))
    assert clean(load(path).defaults["out"])
