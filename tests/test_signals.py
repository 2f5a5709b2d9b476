"""Stopping a run from outside: Ctrl+C, SIGTERM and SIGHUP headless and in the TUI, kill -9,
a terminal or console that goes away, a checkpoint asked for while paused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.tmux import Tmux, tmux_only
from tests.support.runs import (assert_run_files_whole, epochs_done, small_session,
                                start_headless, status_of, the_run)
from tests.support.app import long_app
from tests.support.waits import poll, wait_exit, wait_for, wait_for_epoch, wait_until
from tests.support.procs import default_signals, finish
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import BatchEnd, Control, EpochEnd, Message
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.loop.train import fit, prepare
from tui_trainer.ui.panels.status import StatusBar


def only_run(out: Path) -> Path:
    runs = list(out.iterdir())
    assert len(runs) == 1
    return runs[0]


WRAPPER = """
import os, signal, subprocess, sys
# The wrapper outlives a hang-up to report the exit code; smtui gets default signals, or
# SIGHUP ignored (CHILD_HUP=ignore: as behind a `su` that swallows the hang-up, or nohup).
signal.signal(signal.SIGHUP, signal.SIG_IGN)
child = signal.SIG_IGN if os.environ.get("CHILD_HUP") == "ignore" else signal.SIG_DFL
rc = subprocess.call(sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGHUP, child))
open(sys.argv[1], "w").write(f"EXIT={rc}")
"""


def start_in_tmux(tmp_path, data_dir, child_hup: str = "default") -> tuple[Tmux, Path]:
    (tmp_path / "wrap.py").write_text(WRAPPER)
    env = (f"SMTUI_NO_DOWNLOAD=1 SMTUI_CACHE_DIR={tmp_path}/cache TERM=xterm-256color "
           f"CHILD_HUP={child_hup}")
    cmd = (f"cd {os.getcwd()} && {env} {sys.executable} {tmp_path}/wrap.py {tmp_path}/exit "
           f"{sys.executable} -m tui_trainer --data-dir {data_dir} --out {tmp_path}/runs "
           "--epochs 500 --batch-size 4 --device cpu; sleep 30")
    return Tmux(cmd, 100, 30), tmp_path / "runs"


def running_pid(out: Path) -> int:
    def pid() -> int | None:
        try:
            status = json.loads(only_run(out).joinpath("status.json").read_text())
        except (OSError, ValueError, AssertionError, StopIteration):
            return None
        return status["pid"] if status["state"] == "running" else None
    return poll(pid, 60, lambda: "the run never started", every=0.1)


@pytest.mark.process
def test_sighup_stops_headless_like_sigterm(slow_data, tmp_path):
    proc = start_headless(slow_data, tmp_path / "runs")
    run_dir = the_run(tmp_path / "runs")
    wait_until(lambda: epochs_done(run_dir) >= 1, what="one epoch")
    proc.send_signal(signal.SIGHUP)
    out, err = finish(proc)
    assert proc.returncode == 129, err
    assert "Traceback" not in err
    status = status_of(run_dir)
    assert status["state"] == "stopped" and "SIGHUP" in status["reason"]
    assert status["resume"] == f"smtui --no-ui --resume {run_dir}"
    state = load_checkpoint(run_dir)
    assert state["epoch"] == epochs_done(run_dir)       # the exact point, metrics agree
    log = (run_dir / "log.txt").read_text()
    assert "epoch" in log and "resume with: smtui --no-ui --resume" in log


@pytest.mark.process
def test_nohup_keeps_training_through_a_hangup(slow_data, tmp_path):
    """A SIGHUP ignored at start (nohup) stays ignored: that is what the user asked for."""
    def as_under_nohup() -> None:
        default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    proc = start_headless(slow_data, tmp_path / "runs", preexec_fn=as_under_nohup)
    run_dir = the_run(tmp_path / "runs")
    wait_until(lambda: epochs_done(run_dir) >= 1, what="one epoch")
    proc.send_signal(signal.SIGHUP)
    done = epochs_done(run_dir)
    wait_until(lambda: epochs_done(run_dir) > done + 1, what="training past the hangup")
    assert proc.poll() is None and status_of(run_dir)["state"] == "running"
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    assert proc.returncode == 143


@pytest.mark.process
@pytest.mark.parametrize("console", ["reader gone", "closed", "device full"])
def test_output_that_cannot_be_written_never_stops_training(small_data_dir, tmp_path, console):
    """The console is gone (`| head -1`, a closed descriptor, /dev/full): training finishes,
    exit 0, and the run directory, log.txt included, is the record."""
    args = [sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir", str(small_data_dir),
            "--out", str(tmp_path / "runs"), "--batch-size", "8", "--epochs", "3"]
    if console == "reader gone":
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()                       # as `| head -1` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    elif console == "closed":
        r = subprocess.run(args, preexec_fn=lambda: (os.close(1), os.close(2)), timeout=120)
        code, err = r.returncode, ""
    else:
        with open("/dev/full", "w") as full:
            r = subprocess.run(args, stdout=full, stderr=full, timeout=120)
        code, err = r.returncode, ""
    assert code == 0, err
    assert "Traceback" not in err
    run_dir = next((tmp_path / "runs").iterdir())
    assert status_of(run_dir)["state"] == "finished"
    assert epochs_done(run_dir) == 3
    log = (run_dir / "log.txt").read_text()
    assert "epoch 3/3" in log and "per-class accuracy" in log


def test_a_stop_before_the_first_batch_says_so(small_data_dir, tmp_path):
    from tui_trainer.core.events import Control

    session = small_session(small_data_dir, tmp_path)
    control = Control()
    control.request_stop()
    ended = fit(session, lambda e: None, control)
    assert ended.status == "stopped" and "before the first batch" in ended.message
    status = status_of(session.run.path)
    assert status["state"] == "stopped" and "before the first batch" in status["message"]
    assert load_checkpoint(session.run.path)["epoch"] == 0    # resumable from the start


@pytest.mark.parametrize("paused", [False, True])
def test_a_stop_signal_never_finds_a_lock_of_the_loop_held(paused):
    """A signal handler runs in the main thread between any two bytecodes, so also inside the
    loop's own `should_stop`: had that held a lock the handler takes (an Event's), the process
    would hang for good. (Seen once in five suite runs under load: SIGINT, no exit in 30 s.)
    Emulated here: at every line run inside `should_stop`, threading's own code included, the
    handler's locks must be free, and the handler then runs there."""
    from tui_trainer.core.events import Control

    class Watched(threading.Event):
        """An Event that knows while one of its methods that take its lock runs."""

        busy = 0

        def _locked(self, method, *args):
            self.busy += 1
            try:
                return method(*args)
            finally:
                self.busy -= 1

        def wait(self, timeout=None):
            return self._locked(super().wait, timeout)

        def set(self):
            return self._locked(super().set)

        def clear(self):
            return self._locked(super().clear)

    control = Control()
    control.stop, control.resume = Watched(), Watched()
    control.resume.set()
    if paused:
        control.pause()
    events = (control.stop, control.resume)
    lines, held = [], []

    def tracer(frame, event, arg):
        if event == "line":
            lines.append(frame.f_code.co_name)
            if any(e.busy for e in events):
                held.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
            elif paused and len(lines) > 20:
                control.request_stop("SIGINT")     # what the handler does
        return tracer

    sys.settrace(tracer)
    try:
        stopped = control.should_stop()
    finally:
        sys.settrace(None)
    assert lines and not held, held
    assert stopped == paused


@pytest.mark.process
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_with_checkpoint(slow_data, tmp_path, sig, code):
    proc = start_headless(slow_data, tmp_path / "runs")
    wait_for_epoch(proc, 1)
    proc.send_signal(sig)
    out, err = finish(proc)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run_dir = next((tmp_path / "runs").iterdir())
    rows = assert_run_files_whole(run_dir)
    state = load_checkpoint(run_dir)
    assert state["epoch"] == len(rows)          # metrics and checkpoint agree
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"


@pytest.mark.process
def test_kill_9_never_leaves_corrupt_files(slow_data, tmp_path):
    """SIGKILL at many moments of training (between and during writes): checkpoint loadable,
    metrics whole, every time."""
    delays = [0.0, 0.02, 0.05, 0.09, 0.14, 0.2, 0.27]
    for i, delay in enumerate(delays):
        out = tmp_path / f"runs{i}"
        proc = start_headless(slow_data, out, "--batch-size", "32")
        wait_for_epoch(proc, 1)          # a checkpoint exists from here on
        time.sleep(delay)
        proc.kill()
        proc.wait()
        run_dir = next(out.iterdir())
        rows = assert_run_files_whole(run_dir, killed=True)
        assert load_checkpoint(run_dir)["epoch"] in (len(rows), len(rows) - 1)
        json.loads((run_dir / "config.json").read_text())
        json.loads((run_dir / "status.json").read_text())


@pytest.mark.app
async def test_sigterm_quits_with_a_checkpoint_and_143(data_dir, tmp_path):
    app = long_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        app.on_stop_signal(signal.SIGTERM)
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 143
    run_dir = only_run(tmp_path / "runs")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "stopped" and "SIGTERM" in status["reason"]
    assert load_checkpoint(run_dir)["epoch"] < 500


@pytest.mark.app
@pytest.mark.parametrize("key", ["x", "r", "q"])
async def test_start_then_stop_at_once_never_leaves_a_running_run(data_dir, tmp_path, key):
    """Start followed at once by stop, reset or quit, before the data has loaded."""
    app = long_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.controller.state.core_loaded)
        await pilot.press("s", key)
        await wait_for(pilot, lambda: not app.controller.state.running or not app.is_running)
    for control in app.controller.state.controls:
        assert control.finished.wait(30)
    out = tmp_path / "runs"
    if out.exists():
        for run_dir in out.iterdir():
            status = json.loads((run_dir / "status.json").read_text())
            assert status["state"] == "stopped", status


@pytest.mark.tmux
@tmux_only
def test_sigterm_to_the_real_tui_restores_the_terminal(tmp_path, data_dir):
    t, out = start_in_tmux(tmp_path, data_dir)
    try:
        t.wait_for("idle")
        t.keys("s")
        pid = running_pid(out)
        os.kill(pid, signal.SIGTERM)
        assert wait_exit(tmp_path / "exit", timeout=30) == "EXIT=143"
        modes = subprocess.run([*t.tmux, "display", "-p", "-t", t.name,
                                "#{alternate_on} #{mouse_any_flag} #{cursor_flag}"],
                               capture_output=True, text=True).stdout.split()
        assert modes == ["0", "0", "1"]     # main screen, no mouse reporting, cursor shown
        status = json.loads(only_run(out).joinpath("status.json").read_text())
        assert status["state"] == "stopped" and "SIGTERM" in status["reason"]
        assert load_checkpoint(only_run(out))["epoch"] < 500
    finally:
        t.kill()


@pytest.mark.tmux
@tmux_only
@pytest.mark.parametrize("child_hup", ["default", "ignore"])
def test_the_real_tui_ends_with_its_terminal_whatever_the_hang_up_does(tmp_path, data_dir,
                                                                         child_hup):
    """The terminal disappears (the tmux server killed) and no hang-up reaches smtui (none is
    delivered here; behind a `su`, or under nohup, it is ignored): the app notices the terminal
    itself, the run stops with a checkpoint and the process ends with 129. It trained on
    forever before, at 100-160 % CPU, its status `running`."""
    t, out = start_in_tmux(tmp_path, data_dir, child_hup)
    t.wait_for("idle")
    t.keys("s")
    running_pid(out)
    t.kill()
    assert wait_exit(tmp_path / "exit", timeout=90) == "EXIT=129"
    status = json.loads(only_run(out).joinpath("status.json").read_text())
    assert status["state"] == "stopped", status
    # a hang-up delivered first says so; an ignored one cannot be what stopped it
    said = ("terminal was lost",) if child_hup == "ignore" else ("terminal was lost", "SIGHUP")
    assert any(words in status["reason"] for words in said), status
    assert load_checkpoint(only_run(out))["epoch"] < 500


def test_a_checkpoint_asked_for_while_paused_is_written_at_once(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=4,
                                  epochs=3, device="cpu"))
    control = Control()
    saved: list[str] = []

    def listener(event):
        if isinstance(event, BatchEnd) and event.epoch == 2 and event.batch >= 3 \
                and not control.paused and not saved:
            control.pause()
        if isinstance(event, Message) and event.text.startswith("checkpoint saved"):
            saved.append(event.text)

    worker = threading.Thread(target=fit, args=(session, listener, control))
    worker.start()
    try:
        wait_until(lambda: control.paused)
        batch = session.batch
        control.request_save()
        wait_until(lambda: saved)          # while still paused
        assert control.paused and saved == [f"checkpoint saved at epoch 2, batch {batch}: "
                                            f"{session.run.checkpoint_path}"]
        state = load_checkpoint(session.run.path)
        assert (state["epoch"], state["batch"]) == (1, batch)
        assert state["partial"][2] == batch * 4           # the examples of those batches
    finally:
        control.request_stop()
        worker.join(60)


def test_an_epochs_seconds_leave_out_the_time_paused(small_data_dir, tmp_path):
    """Paused for a second inside the first epoch: the epoch's seconds (and the pace) count
    training, not the pause."""
    control = Control()
    epochs = []

    def listener(event) -> None:
        if isinstance(event, BatchEnd) and event.epoch == 1 and event.batch == 1:
            control.pause()
            threading.Timer(1.0, control.unpause).start()
        elif isinstance(event, EpochEnd):
            epochs.append(event)
    session = small_session(small_data_dir, tmp_path, epochs=2)
    fit(session, listener, control)
    assert control.paused_seconds >= 1.0
    assert epochs[0].seconds < control.paused_seconds - 0.5   # training took far less
    assert epochs[0].seconds == pytest.approx(epochs[1].seconds, abs=0.5)
