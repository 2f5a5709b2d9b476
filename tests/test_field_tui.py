"""The TUI in the field: signals and lost terminals (for real, in tmux), a run stopped as soon as
it starts, and text that looks like markup. See test_field.py for the headless side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from idxdata import write_small_idx
from test_tmux import Tmux, wait_exit
from test_tui import wait_for
from tui_trainer.config import TrainConfig
from tui_trainer.runs import load_checkpoint
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.form import ConfigForm
from tui_trainer.ui.status import StatusBar

tmux_only = pytest.mark.skipif(subprocess.run(["which", "tmux"], capture_output=True).returncode
                               and not os.environ.get("CI"), reason="tmux not installed")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=2000, n_test=50)
    return folder


def make_app(data_dir, out, **kw) -> SmtuiApp:
    base = dict(data_dir=str(data_dir), out=str(out), batch_size=4, epochs=500, lr=0.5,
                device="cpu")
    return SmtuiApp(TrainConfig(**{**base, **kw}))


def only_run(out: Path) -> Path:
    runs = list(out.iterdir())
    assert len(runs) == 1
    return runs[0]


# ---------------------------------------------------------------- signals, in the app

async def test_sigterm_quits_with_a_checkpoint_and_143(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
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


@pytest.mark.parametrize("key", ["x", "r", "q"])
async def test_start_then_stop_at_once_never_leaves_a_running_run(data_dir, tmp_path, key):
    """Start followed at once by stop, reset or quit, before the data has loaded."""
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.core_loaded)
        await pilot.press("s", key)
        await wait_for(pilot, lambda: not app.state.running or not app.is_running)
    for control in app.state.controls:
        assert control.finished.wait(30)
    out = tmp_path / "runs"
    if out.exists():
        for run_dir in out.iterdir():
            status = json.loads((run_dir / "status.json").read_text())
            assert status["state"] == "stopped", status


# ---------------------------------------------------------------- text is text

MARKUP = "runs[/]x[bold]"


async def test_markup_in_a_form_field_is_shown_literally(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 40)) as pilot:
        form = app.query_one(ConfigForm)
        field = form.query_one("#field-lr")
        field.value = "[/]"
        await pilot.pause()
        field.value = "[x]"
        await pilot.pause()
        help_text = str(form.query_one("#help-lr").render())
        assert "not a number: '[x]'" in help_text
        assert app.is_running


async def test_markup_in_paths_and_messages_is_shown_literally(data_dir, tmp_path):
    out = tmp_path / MARKUP
    app = make_app(data_dir, out, epochs=1, batch_size=64)
    async with app.run_test(size=(250, 30)) as pilot:     # wide: no path is wrapped
        await pilot.press("s")
        await wait_for(pilot, lambda: app.state.last_status == "finished")
        await pilot.press("7")
        await pilot.pause()
        log = "".join(line.text for line in app.log_view.lines)   # lines may wrap
        assert f"{out}/" in log
        app.log_message("an [red]error[/] from [/] somewhere")
        await pilot.pause()
        assert "an [red]error[/] from [/] somewhere" in app.log_view.lines[-1].text
        await pilot.press("5")                      # the runs table names the run literally
        await pilot.pause()
        assert app.is_running


async def test_compare_of_malformed_runs_warns_once_and_draws_what_is_valid(tmp_path):
    good = {"epoch": 1, "train_loss": 0.9, "train_acc": 0.7, "test_acc": 0.72}
    run = tmp_path / "20261124-000000-[b]odd"
    run.mkdir()
    (run / "config.json").write_text("[]")
    (run / "metrics.jsonl").write_text(json.dumps(good) + "\n[1]\n")
    (run / "status.json").write_text('{"state": 7}')
    app = SmtuiApp(None, compare=[str(run)])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        assert app.records[0].test_acc == [0.72]
        assert len(app._notifications) == 1
        assert app.is_running


# ---------------------------------------------------------------- signals, for real in tmux

WRAPPER = """
import signal, subprocess, sys
# The wrapper outlives a hang-up to report the exit code; smtui gets default signals.
signal.signal(signal.SIGHUP, signal.SIG_IGN)
rc = subprocess.call(sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
open(sys.argv[1], "w").write(f"EXIT={rc}")
"""


def start_in_tmux(tmp_path, data_dir) -> tuple[Tmux, Path]:
    (tmp_path / "wrap.py").write_text(WRAPPER)
    env = f"SMTUI_NO_DOWNLOAD=1 SMTUI_CACHE_DIR={tmp_path}/cache TERM=xterm-256color"
    cmd = (f"cd {os.getcwd()} && {env} {sys.executable} {tmp_path}/wrap.py {tmp_path}/exit "
           f"{sys.executable} -m tui_trainer --data-dir {data_dir} --out {tmp_path}/runs "
           "--epochs 500 --batch-size 4 --device cpu; sleep 30")
    return Tmux(cmd, 100, 30), tmp_path / "runs"


def running_pid(out: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status = json.loads(only_run(out).joinpath("status.json").read_text())
            if status["state"] == "running":
                return status["pid"]
        except (OSError, ValueError, AssertionError, StopIteration):
            pass
        time.sleep(0.1)
    raise AssertionError("the run never started")


@tmux_only
def test_sigterm_to_the_real_tui_restores_the_terminal(tmp_path, data_dir):
    t, out = start_in_tmux(tmp_path, data_dir)
    try:
        t.wait_for("idle")
        t.keys("s")
        pid = running_pid(out)
        os.kill(pid, signal.SIGTERM)
        assert wait_exit(tmp_path / "exit", timeout=30) == "EXIT=143"
        modes = subprocess.run(["tmux", "display", "-p", "-t", t.name,
                                "#{alternate_on} #{mouse_any_flag} #{cursor_flag}"],
                               capture_output=True, text=True).stdout.split()
        assert modes == ["0", "0", "1"]     # main screen, no mouse reporting, cursor shown
        status = json.loads(only_run(out).joinpath("status.json").read_text())
        assert status["state"] == "stopped" and "SIGTERM" in status["reason"]
        assert load_checkpoint(only_run(out))["epoch"] < 500
    finally:
        t.kill()


@tmux_only
def test_the_real_tui_survives_losing_its_terminal(tmp_path, data_dir):
    """The terminal disappears (tmux killed: writes now fail), then the hang-up arrives, as a
    login shell forwards it: the run is checkpointed and the process ends with 129."""
    t, out = start_in_tmux(tmp_path, data_dir)
    t.wait_for("idle")
    t.keys("s")
    pid = running_pid(out)
    t.kill()
    time.sleep(0.5)   # let the app try to draw to the closed terminal at least once
    os.kill(pid, signal.SIGHUP)
    assert wait_exit(tmp_path / "exit", timeout=60) == "EXIT=129"
    status = json.loads(only_run(out).joinpath("status.json").read_text())
    assert status["state"] == "stopped" and "SIGHUP" in status["reason"]
    assert load_checkpoint(only_run(out))["epoch"] < 500
