"""Resuming a run: what may change, what is refused (and leaves the run untouched), the lock."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.support.runs import (GOOD, assert_run_files_whole, epochs_done, small_session, smtui,
                                start_headless, the_run)
from tests.support.app import train_to_end, make_app
from tests.support.waits import wait_for, wait_for_epoch, wait_until
from tests.support.procs import finish
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError
from tui_trainer.core.events import BatchEnd, Control
from tui_trainer.store.rundir import RunDir
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.loop.train import fit, prepare
from tui_trainer.core.updaters import BookSGD


@pytest.fixture
def trained(small_data_dir, tmp_path):
    """A finished 2-epoch run of the book's sgd; returns its directory."""
    session = small_session(small_data_dir, tmp_path / "runs", epochs=2, lr=0.1)
    fit(session, lambda e: None)
    return session.run.path


def resumed(run_dir, **changes):
    base = TrainConfig.from_dict(load_checkpoint(run_dir)["config"])
    return prepare(base.replace(**changes), resume=str(run_dir))


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != ".lock":
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_resume_applies_a_new_lr_and_records_it(trained):
    session = resumed(trained, lr=0.5, epochs=3)
    assert isinstance(session.updater, BookSGD) and session.updater.lr == 0.5
    config = json.loads((trained / "config.json").read_text())
    assert config["lr"] == 0.5
    assert config["resumed"][-1]["changed"]["lr"] == [0.1, 0.5]
    fit(session, lambda e: None)
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == [0.1, 0.1, 0.5]


def test_resume_applies_lr_and_weight_decay_to_a_torch_optimizer(small_data_dir, tmp_path):
    session = small_session(small_data_dir, tmp_path, optimizer="adam", lr=0.01)
    fit(session, lambda e: None)
    again = resumed(session.run.path, lr=0.002, weight_decay=0.01, epochs=2)
    group = again.updater.param_groups[0]
    assert group["lr"] == 0.002 and group["weight_decay"] == 0.01
    assert again.updater.state       # Adam's moments survive: only the settings changed


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 1}, "--epochs 1 is below the 2 epochs"),
    ({"seed": 7}, "seed=1, not 7"),
    ({"model": "mlp"}, "model='scratch', not 'mlp'"),
    ({"out": "elsewhere"}, "stays in its own directory"),
])
def test_resume_refusals_leave_the_run_untouched(trained, changes, message):
    before = tree_digest(trained)
    with pytest.raises(SmtuiError, match=message):
        resumed(trained, **changes)
    assert tree_digest(trained) == before


@pytest.mark.process
def test_resume_with_fewer_epochs_from_the_command_line(trained):
    before = tree_digest(trained)
    r = smtui("--no-ui", "--resume", trained, "--epochs", "1")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"smtui: error: --epochs 1 is below the 2 epochs {trained} has "
                                "trained; pass --epochs 2 or more")
    assert tree_digest(trained) == before


def test_batch_size_changes_only_at_an_epoch_boundary(small_data_dir, tmp_path):
    from tui_trainer.core.events import Control

    session = small_session(small_data_dir, tmp_path, epochs=3, batch_size=4)
    control = Control()

    def stop_mid_epoch(event):
        if isinstance(event, BatchEnd) and event.epoch == 2:
            control.request_stop()

    fit(session, stop_mid_epoch, control)
    run_dir = session.run.path
    assert load_checkpoint(run_dir)["batch"] > 0
    with pytest.raises(SmtuiError, match="--batch-size cannot change in the middle of an epoch"):
        resumed(run_dir, batch_size=8)
    fit(resumed(run_dir), lambda e: None)        # finishes the epoch with its batch size...
    again = resumed(run_dir, batch_size=8, epochs=4)   # ...after which it may change
    assert again.train_iter.batch_size == 8


@pytest.mark.process
def test_a_run_being_trained_cannot_be_resumed_by_another_process(slow_data, tmp_path):
    proc = start_headless(slow_data, tmp_path / "runs")
    try:
        run_dir = the_run(tmp_path / "runs")
        wait_until(lambda: epochs_done(run_dir) >= 1, what="one epoch")
        r = smtui("--no-ui", "--resume", run_dir, "--epochs", "1000")
        assert r.returncode == 1
        assert r.stderr.strip() == (f"smtui: error: run {run_dir} is being trained by another "
                                    f"process (pid {proc.pid}); stop it first, or watch it "
                                    "with smtui view")
        proc.kill()                       # a crash: the kernel drops the lock with the process
        proc.wait()
        rows = epochs_done(run_dir)
        session = resumed(run_dir, epochs=rows + 1)
        fit(session, lambda e: None)
        assert epochs_done(run_dir) == rows + 1
    finally:
        proc.kill()


def test_a_resume_rewrites_a_csv_left_one_epoch_behind(tmp_path):
    """kill -9 between an epoch's two appends: metrics.jsonl (the record) has the epoch, the CSV
    not yet; resuming from that epoch's checkpoint makes them agree."""
    run = RunDir.create(tmp_path, "x")
    for epoch in (1, 2):
        run.append_metrics({**GOOD, "epoch": epoch})
    lines = run.csv_path.read_text().splitlines()
    run.csv_path.write_text("\n".join(lines[:-1]) + "\n")      # the CSV lost epoch 2
    run.truncate_metrics(2)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert [line.split(",")[0] for line in run.csv_path.read_text().splitlines()] == \
        ["epoch", "1", "2"]


@pytest.mark.process
def test_resume_after_sigint_continues(slow_data, tmp_path):
    proc = start_headless(slow_data, tmp_path / "runs", "--batch-size", "16")
    wait_for_epoch(proc, 2)
    proc.send_signal(signal.SIGINT)
    finish(proc)
    run_dir = next((tmp_path / "runs").iterdir())
    state = load_checkpoint(run_dir)
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--resume", str(run_dir),
                        "--epochs", str(state["epoch"] + 2)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    rows = assert_run_files_whole(run_dir)
    assert len(rows) == state["epoch"] + 2


def test_resume_with_an_incompatible_checkpoint(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                                  epochs=1, device="cpu"))
    fit(session, lambda e: None)
    state = load_checkpoint(session.run.path)
    state["model"] = {"W": torch.zeros(3, 3), "b": torch.zeros(3)}
    session.run.save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(SmtuiError, match="does not fit this model"):
        prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                            epochs=2, device="cpu"), resume=str(session.run.path))


def test_a_resume_after_an_epochs_last_batch_records_that_epochs_lr(small_data_dir, tmp_path):
    """Stopped after the last batch of epoch 1 (during its evaluation) under a cosine schedule,
    then resumed: the metrics record the lr each epoch stepped with, as a straight run does."""
    straight = small_session(small_data_dir, tmp_path / "a", schedule="cosine", epochs=2)
    fit(straight, lambda e: None)
    control = Control()

    def stop_after_the_last_batch(event) -> None:
        if isinstance(event, BatchEnd) and event.epoch == 1 and event.batch == event.num_batches:
            control.request_stop()
    stopped = small_session(small_data_dir, tmp_path / "b", schedule="cosine", epochs=2)
    assert fit(stopped, stop_after_the_last_batch, control).status == "stopped"
    assert load_checkpoint(stopped.run.path)["batch"] == len(stopped.train_iter)
    fit(prepare(stopped.config, resume=str(stopped.run.path)), lambda e: None)
    lrs = [row["lr"] for row in RunDir(stopped.run.path).read_metrics()]
    assert lrs == pytest.approx([row["lr"] for row in RunDir(straight.run.path).read_metrics()])
    assert lrs[0] > lrs[1]   # the schedule moved: the test can tell the epochs apart


@pytest.mark.app
async def test_a_run_is_resumed_from_the_runs_tab(small_data_dir, tmp_path):
    """Enter on a run's row in the Runs tab: the form takes its settings and says Start
    resumes it; with more epochs, Start trains on in the same run directory. The palette
    offers the same."""
    from textual.widgets import Button

    from tui_trainer.ui.panels.runs import RunsPanel

    app = make_app(small_data_dir, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        [run_dir] = (tmp_path / "runs").iterdir()
        assert [r.title for r in app.get_system_commands(app.screen)
                if r.title.startswith("Resume ")]                 # offered in the palette
        await pilot.press("5")
        table = app.query_one(RunsPanel)
        await wait_for(pilot, lambda: app.panels.tabs.active == "runs")
        table.focus()
        await wait_for(pilot, lambda: app.focused is table)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.controller.state.resume == str(run_dir))
        await wait_for(pilot, lambda: app.panels.tabs.active == "setup")   # the tab switch settles
        assert str(app.query_one("#start", Button).label) == "Resume (s)"
        assert "resumes" in str(app.query_one("#form-resume").render())
        assert app.focused is app.query_one("#start")   # s resumes, not types into a field
        app.query_one("#field-epochs").value = "3"
        await train_to_end(pilot, app)
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert [row["epoch"] for row in rows] == [1, 2, 3]
        assert len(list((tmp_path / "runs").iterdir())) == 1       # the same run, not a new one
        assert str(app.query_one("#start", Button).label) == "Start (s)"


def test_a_run_stopped_in_its_first_epoch_resumes_saying_where(small_data_dir, tmp_path):
    """Stopped at a batch of its first epoch, the run's resume printed a new run's header:
    it says where it goes on, as a resume after an epoch does."""
    from tui_trainer.core.events import BatchEnd, Control, RunStarted
    from tui_trainer.headless.single import ConsoleReporter

    config = TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"), epochs=2,
                         batch_size=8, device="cpu")
    session = prepare(config)
    control = Control()

    def stop_at_batch_3(event) -> None:
        if isinstance(event, BatchEnd) and event.batch == 3:
            control.request_stop()
    fit(session, stop_at_batch_3, control)
    assert (session.epoch, session.batch) == (0, 3)
    started: list[RunStarted] = []
    lines = io.StringIO()
    reporter = ConsoleReporter(2, out=lines, err=lines, interactive=False)

    def record(event) -> None:
        if isinstance(event, RunStarted):
            started.append(event)
            reporter(event)
    fit(prepare(config, resume=str(session.run.path)), record)
    assert (started[0].start_epoch, started[0].start_batch) == (0, 3)
    assert "resuming in epoch 1, after batch 3" in lines.getvalue().splitlines()[0]


def four_runs_one_stopped(data_dir) -> Path:
    """Three finished runs and one stopped after its first of two epochs, in ./runs; the
    stopped one's directory."""
    for _ in range(3):
        fit(small_session(data_dir, "runs"), lambda e: None)
    control = Control()
    stopped = small_session(data_dir, "runs", epochs=2)

    def stop_after_epoch_1(event) -> None:
        if isinstance(event, BatchEnd) and event.epoch == 1 and event.batch == event.num_batches:
            control.request_stop()
    assert fit(stopped, stop_after_epoch_1, control).status == "stopped"
    assert len(list(Path("runs").iterdir())) == 4
    return stopped.run.path


@pytest.mark.app
@pytest.mark.parametrize("how", ["row", "absolute --resume"])
async def test_a_resumed_run_stays_one_row(small_data_dir, tmp_path, monkeypatch, how):
    """Runs of a relative --out folder, listed at start; the stopped one is resumed, from its
    row or by `--resume` naming it by its absolute path, and trains to its end: the tab lists
    one row per run directory, the resumed one with its new epochs. One run spelled two ways
    (runs/X and /home/u/runs/X) had been two rows: a stale `stopped` one beside it, 5 rows
    for 4 runs."""
    from tui_trainer.ui.app import SmtuiApp
    from tui_trainer.ui.panels.runs import RunsPanel

    monkeypatch.chdir(tmp_path)
    stopped = four_runs_one_stopped(small_data_dir)
    app = make_app(small_data_dir, "runs")
    if how != "row":
        app = SmtuiApp(app.config, str(stopped.resolve()))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(RunsPanel)
        await wait_for(pilot, lambda: len(table.records) == 4)
        if how == "row":
            await pilot.press("5")
            await wait_for(pilot, lambda: app.panels.tabs.active == "runs")
            row = next(i for i, r in enumerate(table.records) if r.status == "stopped")
            table.focus()
            table.move_cursor(row=row)
            await wait_for(pilot, lambda: app.focused is table and table.cursor_row == row)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.controller.state.resume is not None)
            await wait_for(pilot, lambda: app.panels.tabs.active == "setup")
        app.query_one("#field-epochs").value = "3"
        await train_to_end(pilot, app)
        await wait_for(pilot, lambda: all(r.status == "finished" for r in table.records))
        assert len(table.records) == table.row_count == 4
        resumed = [r for r in table.records if Path(r.path).samefile(stopped)]
        assert len(resumed) == 1 and resumed[0].epochs == [1, 2, 3]
