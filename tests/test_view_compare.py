"""Watching and comparing runs: the watcher, `smtui view`, `smtui compare`, malformed files from
elsewhere, names by what differs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.runs import GOOD, make_run, smtui, many_runs
from tests.support.tmux import Tmux, tmux_only
from tests.support.app import make_app, train_to_end
from tests.support.waits import settle, wait_for
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import BatchEnd, EpochEnd, Message, RunEnded, RunStarted
from tui_trainer.loop.train import fit, prepare
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.panels.predictions import SampleGrid
from tui_trainer.ui.panels.runs import RunsPanel
from tui_trainer.store.watch import CheckpointPredictions, RunWatcher


@pytest.mark.parametrize("config, status", [
    (b"[]", b'{"state": "finished"}'),
    (b'{"epochs": "ten", "lr": "x", "model": 3}', b"[1, 2]"),
    (b"\xff\xfe", b'{"state": 5, "pid": "x", "batch": "y"}'),
    (b'{"epochs": 2}', b'{"state": "running", "pid": 1, "epoch": "1", "batch": 2, '
                       b'"num_batches": 0}'),
])
def test_malformed_config_and_status_never_break_the_watcher(tmp_path, config, status):
    run = make_run(tmp_path / "run", [json.dumps(GOOD).encode()], config, status)
    watcher = RunWatcher(run)
    events = watcher.poll(evaluate=False)
    events += watcher.poll(evaluate=False)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1]
    texts = [e.text for e in events if isinstance(e, Message)]
    assert len(texts) == len(set(texts))            # each problem said once
    assert watcher.config is not None and watcher.config.validate() == {}


def test_compare_keeps_what_is_valid(tmp_path):
    from tui_trainer.ui.panels.runs import RunRecord

    run = make_run(tmp_path / "run", [json.dumps(GOOD).encode(), b"[]"], b"[]", b"nope")
    record = RunRecord.from_dir(run)
    assert record.test_acc == [0.72] and record.config == {} and record.status == ""
    assert len(record.problems) == 3


@pytest.mark.process
def test_view_of_a_plain_file_says_it_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    r = smtui("view", tmp_path / "notes.txt")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"smtui: error: {tmp_path / 'notes.txt'} is a file, not a run "
                                "directory (a folder with config.json, or an --out folder of runs)")


def test_run_watcher_follows_a_run(small_data_dir, tmp_path):
    out = tmp_path / "runs"
    watcher = RunWatcher(out)
    assert [type(e) for e in watcher.poll()] == [Message]          # not started yet
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(out), epochs=2,
                                  batch_size=16, device="cpu"))
    fit(session, lambda e: None)
    events = watcher.poll()
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    assert any(isinstance(e, RunEnded) and e.status == "finished" for e in events)
    preds = [e for e in events if isinstance(e, CheckpointPredictions)]
    assert preds and preds[0].probs.shape == (20, 10)
    assert watcher.poll() == []                                    # nothing new


def test_run_watcher_detects_a_crash(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=1,
                                  batch_size=16, device="cpu"))
    session.run.write_status("running", epoch=0, epochs=1)
    session.run.release_lock()   # what the kernel does when the trainer dies, however it dies
    events = RunWatcher(session.run.path).poll(evaluate=False)
    ended = [e for e in events if isinstance(e, RunEnded)]
    assert ended and ended[0].status == "crashed"


@pytest.mark.process
def test_view_command_needs_a_terminal_and_compare_checks_dirs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "compare", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "is not a run directory" in r.stderr


@pytest.mark.app
async def test_view_mode_reads_a_run_and_is_read_only(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=3,
                                  batch_size=16, lr=0.5, device="cpu"))
    fit(session, lambda e: None)
    app = SmtuiApp(None, watch=str(session.run.path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.controller.state.last_status == "finished")
        assert app.panels.curves.series["test acc"][0] == [1, 2, 3]
        await pilot.press("3")
        await wait_for(pilot, lambda: len(app.query_one(SampleGrid).images) > 0)
        app.set_focus(None)
        await pilot.press("s")
        await settle(pilot)
        assert not app.controller.state.running                                     # read-only
        assert not any(app.check_action(a, ()) for a in ("start", "stop", "pause"))


@pytest.mark.app
async def test_the_viewer_shows_the_watched_runs_settings_not_its_own(small_data_dir, tmp_path):
    """Train view, Setup and Runs tab come from the watched run's files (they showed the
    viewer's defaults: model scratch, sgd 0.1, 10 epochs, and an empty Runs tab)."""
    from textual.widgets import Button

    from tui_trainer.ui.panels.dashboard import settings_text

    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=3,
                                  batch_size=32, model="mlp", optimizer="adam", lr=0.002,
                                  device="cpu"))
    fit(session, lambda e: None)
    app = SmtuiApp(None, watch=str(session.run.path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.controller.state.last_status == "finished")
        assert (app.config.model, app.config.optimizer, app.config.lr, app.config.epochs,
                app.config.batch_size) == ("mlp", "adam", 0.002, 3, 32)
        assert app.query_one("#field-model").value == "mlp"
        assert app.query_one("#field-epochs").value == "3"
        assert not app.query_one("#start", Button).display
        table = settings_text(app.config.to_dict(), "finished", None)   # the Train view's
        rows = {str(k): str(v) for k, v in zip(table.columns[0]._cells, table.columns[1]._cells)}
        assert rows["optimizer"] == "adam, lr 0.002" and rows["epochs"] == "3"
        await pilot.press("5")
        await wait_for(pilot, lambda: app.panels.runs_table.row_count == 1)
        row = [str(c) for c in app.panels.runs_table.get_row_at(0)]
        assert row[1].startswith("mlp adam") and row[4] == "3/3" and row[-1] == "finished"


def test_a_running_runs_pace_reaches_the_viewer(small_data_dir, tmp_path):
    """status.json carries the pace of the epoch going on, so the viewer's status bar shows
    the run's img/s and ETA (it showed 0 img/s and ETA 0:00)."""
    from tui_trainer.core.events import BatchEnd
    from tui_trainer.loop.lifecycle import RunLife

    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=3,
                                  batch_size=16, device="cpu"))
    life = RunLife(session.run, 3)
    life.last_progress = float("-inf")                 # due now
    life.progress(1, BatchEnd(2, 5, 10, 80, 4000.0, 0.5, 0.75, 2))
    events = RunWatcher(session.run.path).poll(evaluate=False)
    [batch] = [e for e in events if isinstance(e, BatchEnd)]
    assert (batch.epoch, batch.batch, batch.num_batches, batch.examples) == (2, 5, 10, 80)
    assert (batch.examples_per_s, batch.loss, batch.acc, batch.threads) == (4000.0, 0.5, 0.75, 2)


@pytest.mark.app
async def test_compare_overlays_runs(small_data_dir, tmp_path):
    dirs = []
    for lr in ("0.1", "0.5"):
        session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path),
                                      epochs=2, batch_size=16, lr=float(lr), device="cpu"))
        fit(session, lambda e: None)
        dirs.append(str(session.run.path))
    app = SmtuiApp(TrainConfig(device="cpu"), compare=dirs)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert len(app.panels.curves.overlays) == 2
        assert app.query_one(RunsPanel).row_count == 2
        app.set_focus(None)
        await pilot.press("o")
        assert app.panels.curves.overlays == []
        await pilot.press("o")
        assert len(app.panels.curves.overlays) == 2


@pytest.mark.app
async def test_session_runs_are_compared(tmp_path):
    from tests.support.idx import write_small_idx
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=200, n_test=50)
    app = make_app(folder, tmp_path / "runs", epochs=2)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(2):
            await train_to_end(pilot, app)
            app.controller.state.last_status = "idle"
        assert len(app.runs.comparison.records) == 2
        assert app.query_one(RunsPanel).row_count == 2
        await pilot.press("o")
        assert len(app.panels.curves.overlays) == 2


def test_run_names_in_legends():
    from tui_trainer.ui.panels.runs import RunRecord
    assert RunRecord("20261124-045518-scratch", {}).short_name == "045518-scratch"
    assert RunRecord("my-run", {}).short_name == "my-run"


def test_runs_are_named_by_what_differs():
    from tui_trainer.store.catalog import names_by_difference

    base = TrainConfig().to_dict()
    configs = [{**base, "lr": 0.1}, {**base, "lr": 0.03}]
    assert names_by_difference(configs, ["a", "b"]) == ["lr 0.1", "lr 0.03"]
    configs = [{**base, "model": "mlp", "optimizer": "adam"}, base]
    assert names_by_difference(configs, ["a", "b"]) == ["mlp, adam", "scratch, sgd"]
    assert names_by_difference([base, base], ["0451-x", "0452-x"]) == ["0451-x", "0452-x"]
    assert names_by_difference([{}, {"lr": "x"}], ["a", "b"]) == ["a", "lr x"]   # never "None"


@pytest.mark.app
async def test_compare_of_malformed_runs_warns_once_and_draws_what_is_valid(tmp_path):
    good = {"epoch": 1, "train_loss": 0.9, "train_acc": 0.7, "test_acc": 0.72}
    run = tmp_path / "20261124-000000-[b]odd"
    run.mkdir()
    (run / "config.json").write_text("[]")
    (run / "metrics.jsonl").write_text(json.dumps(good) + "\n[1]\n")
    (run / "status.json").write_text('{"state": 7}')
    app = SmtuiApp(None, compare=[str(run)])
    async with app.run_test(size=(100, 30)) as pilot:
        def warned() -> list[str]:
            return [line.plain for line in app.log_view.texts if "skipped" in line.plain]
        await wait_for(pilot, lambda: any("malformed file(s)" in text for text in warned()),
                       what="the warning")
        await settle(pilot)
        assert app.runs.comparison.records[0].test_acc == [0.72]
        assert len([text for text in warned() if "malformed file(s)" in text]) == 1  # once
        assert app.is_running


def test_the_watcher_reads_only_what_was_appended(tmp_path, monkeypatch):
    """A long run's metrics.jsonl: each poll reads the bytes appended since the last one (not
    the whole file twice a second), a line still being written waits, and a file rewritten
    shorter by a resume is read again without showing a row twice."""
    from tui_trainer.store.rundir import RunDir
    from tui_trainer.store.files import dumps
    from tui_trainer.store.watch import RunWatcher

    run = make_run(tmp_path / "run", [dumps({**GOOD, "epoch": e}).encode() for e in
                                      range(1, 1001)])
    watcher = RunWatcher(run)
    first = [e.epoch for e in watcher.poll(evaluate=False) if isinstance(e, EpochEnd)]
    assert first == list(range(1, 1001))
    offsets = []
    real = RunDir.read_metrics_from

    def spy(self, offset, **kw):
        offsets.append(offset)
        return real(self, offset, **kw)
    monkeypatch.setattr(RunDir, "read_metrics_from", spy)
    path = run / "metrics.jsonl"
    size = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(dumps({**GOOD, "epoch": 1001}).encode() + b"\n" + b'{"epoch": 10')  # torn
    new = [e.epoch for e in watcher.poll(evaluate=False) if isinstance(e, EpochEnd)]
    assert new == [1001] and offsets == [size]          # read from where it left off
    with open(path, "ab") as fh:
        fh.write(dumps({**GOOD, "epoch": 1002})[len('{"epoch": 10'):].encode() + b"\n")
    assert [e.epoch for e in watcher.poll(evaluate=False) if isinstance(e, EpochEnd)] == [1002]
    path.write_bytes(b"".join(dumps({**GOOD, "epoch": e}).encode() + b"\n"
                              for e in range(1, 6)))   # a resume rewrote it shorter
    assert [e for e in watcher.poll(evaluate=False) if isinstance(e, EpochEnd)] == []




@pytest.mark.app
async def test_compare_of_many_runs_stays_readable_filters_pins_and_hides(tmp_path):
    """60 runs at 80x24: at most MAX_OVERLAYS curves, the best first, and the legend says how
    many more; the Runs tab's filter, pins and hides choose which; v compares train loss."""
    from tui_trainer.ui.runs_tab import MAX_OVERLAYS

    app = SmtuiApp(None, compare=many_runs(tmp_path / "runs", 60))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.panels.curves.overlays) == MAX_OVERLAYS)
        labels = [label for label, _, _ in app.panels.curves.overlays]
        assert (
            labels[0] == "lr 0.6" and app.panels.curves.more == 60 - MAX_OVERLAYS
        )  # the best first
        assert f"+{60 - MAX_OVERLAYS} more" in str(app.panels.curves.legend())
        await pilot.press("5")
        await wait_for(pilot, lambda: app.panels.tabs.active == "runs")
        app.query_one("#runs-filter").value = "lr<=0.05"
        await wait_for(pilot, lambda: app.panels.runs_table.row_count == 5)
        assert sorted(label for label, _, _ in app.panels.curves.overlays) == [
            "lr 0.01", "lr 0.02", "lr 0.03", "lr 0.04", "lr 0.05"] and app.panels.curves.more == 0
        app.panels.runs_table.focus()
        await wait_for(pilot, lambda: app.focused is app.panels.runs_table)
        app.panels.runs_table.move_cursor(row=0)          # lr 0.01, the worst: pinned, drawn first
        await pilot.press("p")
        await wait_for(pilot, lambda: app.panels.curves.overlays[0][0] == "lr 0.01")
        app.panels.runs_table.move_cursor(row=3)  # lr 0.04: pinned, moved up, the cursor on it
        await pilot.press("p")
        await wait_for(pilot, lambda: str(app.panels.runs_table.get_row_at(1)[0]).startswith("*"))
        assert [str(app.panels.runs_table.get_row_at(i)[0])[0] for i in range(2)] == ["*", "*"]
        assert app.panels.runs_table.records[app.panels.runs_table.cursor_row].config["lr"] == 0.04
        await pilot.press("p")  # and unpinned
        await wait_for(
            pilot, lambda: not str(app.panels.runs_table.get_row_at(1)[0]).startswith("*")
        )
        app.panels.runs_table.move_cursor(row=4)          # lr 0.05: hidden
        await pilot.press("h")
        await wait_for(pilot, lambda: len(app.panels.curves.overlays) == 4)
        assert "lr 0.05" not in [label for label, _, _ in app.panels.curves.overlays]
        await pilot.press("v")
        await wait_for(pilot, lambda: app.panels.curves.overlay_side == "left")
        assert app.panels.curves.overlays[0][2] == [0.999, 0.998, 0.997]      # lr 0.01's train loss
        app.query_one("#runs-filter").value = "lr 0.1"
        await wait_for(pilot, lambda: "cannot read" in str(app.panels.runs_note.render()))


@pytest.mark.app
def test_snapshot_of_60_runs_compared_at_80x24(snap_compare, tmp_path):
    """The plot of 60 runs stays readable: eight curves, a legend that says how many more."""
    from tests.support.app import fix_machine

    async def run_before(pilot):
        app = pilot.app
        await wait_for(
            pilot, lambda: app.controller.state.status == "idle" and app.panels.curves.overlays
        )
        fix_machine(app)
        app.redraw(force=True)
        await pilot.pause()
    assert snap_compare(SmtuiApp(None, compare=many_runs(tmp_path / "runs", 60)),
                        terminal_size=(80, 24), run_before=run_before)


@pytest.mark.app
async def test_a_fresh_app_lists_the_out_folders_runs_and_a_resumed_one_once(small_data_dir,
                                                                            tmp_path):
    """`smtui` with runs already in --out: the Runs tab lists them from the start; Enter on one
    puts the focus on Resume, so `s` resumes it (it typed into the epochs field); once it has
    trained more here it is listed once, with all its epochs (a stale row stayed beside it)."""
    from tests.support.app import make_app

    out = tmp_path / "runs"
    stopped = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(out), epochs=2,
                                  batch_size=16, lr=0.5, device="cpu"))
    fit(stopped, lambda e: None)
    other = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(out), epochs=1,
                                batch_size=16, lr=0.5, device="cpu", name="other"))
    fit(other, lambda e: None)
    app = make_app(small_data_dir, out, epochs=2)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert len(app.runs.comparison.records) == 2
        await pilot.press("5")
        panel = app.query_one(RunsPanel)
        await wait_for(pilot, lambda: panel.row_count == 2)
        row = next(i for i, r in enumerate(panel.records) if r.path == str(stopped.run.path))
        panel.focus()
        panel.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert app.controller.state.resume == str(stopped.run.path)
        assert app.focused is app.query_one("#start")
        app.panels.form.query_one("#field-epochs").value = "3"
        await settle(pilot)
        app.query_one("#start").focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.controller.state.running and
                       app.controller.state.last_status == "finished", 60)
        keys = [r.key for r in app.runs.comparison.records]
        assert sorted(keys) == sorted({str(stopped.run.path), str(other.run.path)}), keys
        record = next(r for r in app.runs.comparison.records if r.key == str(stopped.run.path))
        assert record.status == "finished" and record.epochs == [1, 2, 3]


@pytest.mark.app
async def test_tab_keys_and_the_palettes_tab_commands_work_from_every_focus(tmp_path):
    """From the Runs table (after a pin), the tabs bar and each tab's own focus, every tab key
    switches and keeps the switch; `2` from the table kept the Runs tab and moved the focus
    into the filter, which then took the next key as text. The palette's commands too."""
    from tui_trainer.ui.commands import TABS
    dirs = many_runs(tmp_path, 5)
    app = SmtuiApp(TrainConfig(device="cpu"), compare=dirs)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for tab, key in TABS:
            if tab == "train":
                continue   # needs a big terminal
            await pilot.press("5")
            await settle(pilot)
            assert app.focused is app.panels.runs_table          # 5 puts p, h, Enter on the rows
            await pilot.press("p")
            await pilot.press(key)
            await settle(pilot)
            assert app.panels.tabs.active == tab, (key, app.panels.tabs.active, app.focused)
            assert app.query_one("#runs-filter").value == ""
            await pilot.press(key)                           # from the tab's own focus
            await settle(pilot)
            assert app.panels.tabs.active == tab
        for tab, _ in TABS:
            if tab == "train":
                continue
            app.panels.runs_table.focus()
            await settle(pilot)
            command = next(c for c in app.get_system_commands(app.screen)
                           if c.title == f"Go to the {tab.title()} tab")
            command.callback()
            await settle(pilot)
            assert app.panels.tabs.active == tab, tab


@pytest.mark.process
def test_view_without_a_run_and_none_yet_is_one_line(tmp_path):
    r = smtui("view", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == (
        "smtui: error: no runs yet in runs: smtui --no-ui trains one, or name a run directory: "
        "smtui view RUN_DIR")


@pytest.mark.tmux
@tmux_only
def test_view_without_a_run_opens_the_newest_in_out(small_data_dir, tmp_path):
    """`smtui view` alone, as `wandb leet run`: the newest run of --out (lr 0.5 here)."""
    for lr in (0.1, 0.5):
        fit(prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                                epochs=1, batch_size=16, lr=lr, device="cpu")), lambda e: None)
    tmux = Tmux(f"cd {tmp_path} && {sys.executable} -m tui_trainer view", 100, 30)
    try:
        tmux.wait_for("finished", timeout=90)
        tmux.keys("1")
        screen = tmux.wait_for("batch size", timeout=30)
        lr_row = next(line for line in screen.splitlines() if line.strip().startswith("lr "))
        assert "0.5" in lr_row, lr_row
    finally:
        tmux.kill()


def test_the_viewer_says_stalled_when_a_live_runs_record_stops_moving(small_data_dir, tmp_path):
    """12 s after a SIGSTOP of the trainer the viewer still said `training · 27,488 img/s`:
    a run whose process lives but whose status has not moved for a minute is `stalled`, with
    why; once it writes again, its progress comes back."""
    import os
    import time as time_
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=3,
                                  batch_size=16, device="cpu"))
    run = session.run
    progress = {"pid": os.getpid(), "epoch": 1, "batch": 2, "num_batches": 5, "examples": 32,
                "examples_per_s": 27488.0}
    (run.path / "status.json").write_text(json.dumps(
        {"state": "running", "updated": time_.time() - 75, **progress}))
    watcher = RunWatcher(run.path)
    events = watcher.poll(evaluate=False)
    (ended,) = [e for e in events if isinstance(e, RunEnded)]
    assert ended.status == "stalled" and "nothing written for 75 s" in ended.message
    assert not [e for e in events if isinstance(e, BatchEnd)]
    (run.path / "status.json").write_text(json.dumps(
        {"state": "running", "updated": time_.time(), **progress}))
    events = watcher.poll(evaluate=False)
    assert [e for e in events if isinstance(e, BatchEnd)] and \
        not [e for e in events if isinstance(e, RunEnded)]
    session.run.release_lock()


def test_the_viewer_follows_the_run_that_wrote_last_whatever_the_copy_did_to_file_times(
        tmp_path):
    """`scp -r` reorders the folders' modification times: `view FOLDER` opened the oldest run.
    The newest is the one whose own record (status.json) was written last."""
    import os

    runs = tmp_path / "copied"
    for k, updated in enumerate((3000.0, 1000.0, 2000.0)):
        run = make_run(runs / f"20261130-10000{k}-scratch", [json.dumps(GOOD).encode()],
                       json.dumps(TrainConfig(lr=0.1 * (k + 1)).to_dict()).encode(),
                       json.dumps({"state": "finished", "updated": updated}).encode())
        os.utime(run, (4000.0 - updated, 4000.0 - updated))   # the copy's times: reversed
    def followed() -> str:
        watcher = RunWatcher(runs)
        watcher.poll(evaluate=False)
        return watcher.run.path.name
    assert followed() == "20261130-100000-scratch"
    (runs / "20261130-100000-scratch" / "status.json").write_text("{}")   # says nothing now
    assert followed() == "20261130-100002-scratch"


def test_the_viewer_follows_a_resume_another_process_makes(small_data_dir, tmp_path):
    """A finished 1-epoch run, then another process resumes it to 3 epochs: the viewer's
    watcher announces the run again with its new epochs, its new rows and its end; the run
    controller then says `training` (it said `stopped`, `epoch 3/1`)."""
    from tests.test_run_state import controller
    from tui_trainer.ui.modes import WatchMode

    config = TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"), epochs=1,
                         batch_size=16, device="cpu")
    first = prepare(config)
    fit(first, lambda e: None)
    watcher = RunWatcher(first.run.path)
    ctl = controller(WatchMode(str(first.run.path)))
    ctl.state.watched = "watching"

    def show(events) -> list:
        for event in events:
            if isinstance(event, (RunStarted, BatchEnd, RunEnded, EpochEnd)):
                ctl.handle(event)
        return events
    before = show(watcher.poll(evaluate=False))
    assert [e.status for e in before if isinstance(e, RunEnded)] == ["finished"]
    assert ctl.state.status == "finished" and ctl.state.epochs == 1

    seen: list = []

    def while_resumed(event) -> None:   # the resumer's loop; the viewer polls meanwhile
        if isinstance(event, BatchEnd) and event.epoch == 2 and not seen:
            seen.extend(show(watcher.poll(evaluate=False)))
            seen.append(ctl.state.status)
    fit(prepare(config.replace(epochs=3), resume=str(first.run.path)), while_resumed)
    announced = [e for e in seen if isinstance(e, RunStarted)]
    assert announced and announced[0].config["epochs"] == 3
    assert seen[-1] == "training"
    assert ctl.state.epochs == 3
    after = show(watcher.poll(evaluate=False))
    assert [e.status for e in after if isinstance(e, RunEnded)] == ["finished"]
    assert [e.epoch for e in seen + after if isinstance(e, EpochEnd)] == [2, 3]


@pytest.mark.app
async def test_a_copied_run_without_its_data_shows_its_own_settings_and_curves(small_data_dir,
                                                                              tmp_path,
                                                                              monkeypatch):
    """A run trained with --data-dir /srv/fmnist, copied with `cp -a` to a machine without
    that folder: view showed epoch 10/10, batch size 256 and an empty Runs tab (the viewer's
    defaults). Only the images may be missing: settings, curves and the Runs tab's row are
    the run's; the images' absence is said once."""
    import shutil

    data = tmp_path / "srv" / "fmnist"
    shutil.copytree(small_data_dir, data)
    session = prepare(TrainConfig(data_dir=str(data), out=str(tmp_path / "server"), epochs=1,
                                  batch_size=24, name="srvrun", device="cpu"))
    fit(session, lambda e: None)
    copy = tmp_path / "laptop" / session.run.path.name
    shutil.copytree(session.run.path, copy)
    shutil.rmtree(data)
    from tui_trainer.core import data as data_mod
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "none")   # no full data here either
    app = SmtuiApp(None, watch=str(copy))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.controller.state.status == "finished")
        assert (app.config.epochs, app.config.batch_size, app.config.name) == (1, 24, "srvrun")
        assert app.query_one("#field-batch_size").value == "24"
        await wait_for(pilot, lambda: app.panels.runs_table.row_count == 1)
        assert app.panels.curves.series["test acc"][0] == [1]
        said = [line.plain for line in app.log_view.texts]
        assert sum("test images unavailable" in line for line in said) == 1


@pytest.mark.app
async def test_the_compare_window_follows_runs_other_processes_train(tmp_path):
    """`smtui compare SWEEP` while the sweep trains, then the sweep stops: the Runs tab said
    `running` for good and its curves froze. The runs still live are read again from their
    records: their new epochs, and how they ended."""
    from tui_trainer.store.rundir import RunDir

    def row(epoch: int) -> bytes:
        return json.dumps({**GOOD, "epoch": epoch, "test_acc": 0.5 + epoch / 10}).encode()
    config = json.dumps(TrainConfig().to_dict()).encode()
    live = make_run(tmp_path / "sweep" / "20261130-100000-scratch-lr0.1", [row(1)], config,
                    b'{"state": "running", "updated": 1000.0}')
    done = make_run(tmp_path / "sweep" / "20261130-100000-scratch-lr1", [row(1), row(2)], config,
                    b'{"state": "finished", "updated": 1000.0}')
    trainer = RunDir(live)
    trainer.acquire_lock()   # another process's, as far as the window can tell
    try:
        app = SmtuiApp(None, compare=[str(live), str(done)])
        async with app.run_test(size=(100, 30)) as pilot:
            records = app.runs.comparison.records
            assert [r.status for r in records] == ["running", "finished"]
            with open(live / "metrics.jsonl", "ab") as fh:
                fh.write(row(2) + b"\n")
            (live / "status.json").write_text('{"state": "stopped", "updated": 1001.0}')
            trainer.release_lock()
            await wait_for(pilot, lambda: app.runs.comparison.records[0].status == "stopped",
                           timeout=30, what="the stopped run's state")
            assert app.runs.comparison.records[0].epochs == [1, 2]
            await wait_for(pilot, lambda: str(app.panels.runs_table.get_row_at(0)[-1]) ==
                           "stopped", what="the table's row")
    finally:
        trainer.release_lock()


@pytest.mark.app
async def test_a_click_on_a_runs_tab_column_sorts_the_runs_by_it(tmp_path):
    """Clicking `best` did nothing: now the rows follow it, largest first, and the other way
    on a second click; pins stay first."""
    app = SmtuiApp(None, compare=many_runs(tmp_path / "runs", 5))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("5")
        table = app.panels.runs_table
        await wait_for(pilot, lambda: table.row_count == 5)

        def best_column() -> list[float]:
            return [float(str(table.get_row_at(i)[6])) for i in range(table.row_count)]
        assert best_column() == sorted(best_column())   # by name: the lowest lr first
        widths = [column.get_render_width(table) for column in table.columns.values()]
        await pilot.click(RunsPanel, offset=(sum(widths[:6]) + widths[6] // 2, 0))   # best
        await wait_for(pilot, lambda: best_column() == sorted(best_column(), reverse=True),
                       what="the largest best first")
        app.panels.runs_table.post_message(RunsPanel.SortAsked("best_test_acc"))
        await wait_for(pilot, lambda: best_column() == sorted(best_column()),
                       what="the other way")


@pytest.mark.app
async def test_viewing_a_sweep_folder_follows_the_newest_and_lists_the_others(tmp_path):
    """`smtui view SWEEP_FOLDER`: the newest run is followed, and the window says the folder
    holds three runs and lists the other two in the Runs tab (it said `1 of 1 runs`)."""
    def row(epoch: int) -> bytes:
        return json.dumps({**GOOD, "epoch": epoch}).encode()
    config = json.dumps(TrainConfig(epochs=2).to_dict()).encode()
    folder = tmp_path / "sweep"
    for updated, lr in ((1000.0, "0.1"), (3000.0, "0.3"), (2000.0, "1")):
        make_run(folder / f"20261130-100000-scratch-lr{lr}", [row(1), row(2)], config,
                 json.dumps({"state": "finished", "updated": updated}).encode())
    app = SmtuiApp(None, watch=str(folder))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.panels.runs_table.row_count == 3)
        assert app.controller.state.current.name == "20261130-100000-scratch-lr0.3"
        said = [line.plain for line in app.log_view.texts]
        assert any("holds 3 runs: following the newest, 20261130-100000-scratch-lr0.3" in line
                   for line in said), said
        assert "3 of 3 runs" in str(app.panels.runs_note.render())


@pytest.mark.app
async def test_a_filter_typed_right_after_a_key_keeps_its_first_letters(tmp_path, data_dir):
    """5 then `lr>0.2` at once: the l and r were taken as keys (r is reset) and the filter got
    `>0.2`. / focuses the filter at once, from any tab, with runs listed or none; q still
    quits from the Runs tab itself."""
    from textual.widgets import Input

    config = json.dumps(TrainConfig(lr=0.5).to_dict()).encode()
    for name in ("20261130-100000-scratch", "20261130-110000-scratch"):
        make_run(tmp_path / "runs" / name, [json.dumps(GOOD).encode()], config,
                 b'{"state": "finished", "updated": 1000.0}')
    app = SmtuiApp(None, compare=[str(p) for p in sorted((tmp_path / "runs").iterdir())])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.panels.runs_table.row_count == 2)
        await pilot.press("5", "slash", *"lr>0.2")
        await settle(pilot)
        assert app.query_one("#runs-filter", Input).value == "lr>0.2"
        await wait_for(pilot, lambda: "2 of 2 runs" in str(app.panels.runs_note.render()))
    empty = make_app(data_dir, tmp_path / "none")
    async with empty.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "slash", *"lr>0.2")
        await settle(pilot)
        assert empty.query_one("#runs-filter", Input).value == "lr>0.2"
        assert empty.panels.tabs.active == "runs"
