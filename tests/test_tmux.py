"""The real `smtui` in tmux: keys sent with send-keys, the screen read with capture-pane."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import pytest
from tests.support.tmux import Tmux
from tests.support.waits import wait_exit, wait_until
from tui_trainer.store.catalog import runs_in

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"),
                                reason="tmux not installed")


def status_text(out) -> str:
    """The status.json of the one run in `out`, or '' before there is one."""
    try:
        return next(out.iterdir()).joinpath("status.json").read_text()
    except (OSError, StopIteration):
        return ""


@pytest.fixture
def tmux_app(tmp_path):
    sessions = []

    def start(*args: str, width: int = 100, height: int = 30) -> Tmux:
        env = f"SMTUI_NO_DOWNLOAD=1 SMTUI_CACHE_DIR={tmp_path}/cache TERM=xterm-256color"
        cmd = f"cd {os.getcwd()} && {env} {sys.executable} -m tui_trainer {' '.join(args)} " \
              f"--out {tmp_path}/runs; echo EXIT=$? > {tmp_path}/exit; sleep 1"
        t = Tmux(cmd, width, height)
        sessions.append(t)
        return t

    yield start
    for t in sessions:
        t.kill()


@pytest.mark.tmux
def test_real_tui_trains_on_the_subset_and_quits(tmux_app, tmp_path):
    t = tmux_app("--dataset", "subset", "--epochs", "2")
    t.wait_for("Setup  Curves  Predictions")
    t.wait_for("idle")                          # torch loaded in the background
    t.keys("s")
    t.wait_for("finished", timeout=120)
    screen = t.wait_for("EMBEDDED SUBSET", timeout=15)   # once the warning toast has gone
    assert "epoch 2/2" in screen
    assert "train loss" in screen               # the curves' legend
    t.keys("3")
    t.wait_for("class probabilities")
    t.wait_for("✓", "✗")          # the grid is drawn at the next redraw tick
    t.keys("n", "m", "Right", "Down")
    t.wait_for("image 6 of")                    # one image right, a row of four down
    t.resize(60, 20)
    t.wait_screen(lambda screen: screen.count("P ✗") == 1, "the grid redrawn one image wide")
    t.resize(45, 12)
    t.wait_for("Terminal too small")
    t.resize(100, 30)
    t.wait_for("class probabilities")
    t.keys("?")
    t.wait_for("smtui keys")
    t.keys("Escape")
    t.wait_gone("smtui keys")   # an Escape followed at once by q would read as Alt+q
    t.keys("q")
    assert wait_exit(tmp_path / "exit") == "EXIT=0"
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "checkpoint.pt").is_file()


@pytest.mark.tmux
def test_the_first_frame_and_quitting_need_no_torch(tmp_path):
    """A torch whose import never ends (a fake package first on the path): the app still draws
    its first frame, and q still ends the process. The app imports torch in the background only;
    its exit waits for no import (it once waited in asyncio's executor until torch had loaded)."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import time\nwhile True:\n    time.sleep(1)\n")
    env = f"PYTHONPATH={tmp_path}/fake SMTUI_NO_DOWNLOAD=1 TERM=xterm-256color"
    t = Tmux(f"cd {os.getcwd()} && {env} {sys.executable} -m tui_trainer --out {tmp_path}/runs; "
             f"echo EXIT=$? > {tmp_path}/exit; sleep 1", 100, 30)
    try:
        screen = t.wait_for("Setup  Curves  Predictions")
        assert "loading torch" in screen               # the import is still under way
        t.keys("q")
        assert wait_exit(tmp_path / "exit") == "EXIT=0"
    finally:
        t.kill()


@pytest.mark.tmux
def test_real_tui_quit_mid_run_is_quick_and_keeps_the_run(tmux_app, tmp_path):
    t = tmux_app("--dataset", "subset", "--epochs", "500", "--batch-size", "8")
    t.wait_for("idle")
    t.keys("s")
    t.wait_for("training")
    wait_until(lambda: '"batch"' in status_text(tmp_path / "runs"), what="a batch reported")
    start = time.monotonic()
    t.keys("q")
    assert wait_exit(tmp_path / "exit", timeout=30) == "EXIT=0"
    # Within about 2 s on an idle machine; the bound is loose so a loaded machine cannot fail it.
    assert time.monotonic() - start < 20.0
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "checkpoint.pt").is_file()
    assert '"state": "stopped"' in (run_dir / "status.json").read_text()


@pytest.mark.tmux
def test_real_tui_keys_after_tab_land_in_the_next_field(tmux_app, tmp_path):
    """One send-keys with a Tab in the middle, as a fast typist over SSH: the keys before the
    Tab edit the batch size, the keys after it the epochs."""
    t = tmux_app("--dataset", "subset", width=120, height=40)
    t.wait_for("idle")
    t.keys(*["Tab"] * 8)                   # the tabs bar, preset, model ... lr, sweep, batch size
    t.wait_focused("batch size")
    t.keys("C-a", "C-k", "128", "Tab", "C-a", "C-k", "30")
    screen = t.wait_for("epochs        30 ")
    assert "batch size    128 " in screen
    t.keys("C-c")                          # Escape then q at once reads as Alt+q
    assert wait_exit(tmp_path / "exit") == "EXIT=0"


@pytest.mark.tmux
def test_real_tui_applies_a_burst_of_keys_in_order_and_sweeps(tmux_app, tmp_path):
    """Keys sent at once, as tmux send-keys or a paste does: the lr field gets what was typed;
    then a sweep typed into its own field trains a model per rate."""
    t = tmux_app("--dataset", "subset", "--epochs", "1", width=120, height=40)
    t.wait_for("idle")
    t.keys(*["Tab"] * 6)                   # the tabs bar, preset, model, softmax, optimizer, lr
    t.wait_focused("lr")
    t.keys("End", *["BSpace"] * 4, "0.25", "Left", "Left", "DC", "3", "End")   # DC: delete
    t.wait_for("lr            0.35 ")
    t.keys("Tab")
    t.wait_focused("sweep lrs")
    t.keys("0.05,0.5", "Escape")
    t.wait_for("sweep lrs     0.05,0.5")
    t.keys("s")
    t.wait_for("finished", timeout=120)
    screen = t.wait_for("lr 0.5")           # the curves' legend names each rate
    assert "lr 0.05" in screen
    t.keys("q")
    assert wait_exit(tmp_path / "exit") == "EXIT=0"
    lrs = sorted(json.loads((d / "config.json").read_text())["lr"]
                 for d in runs_in(tmp_path / "runs"))
    assert lrs == [0.05, 0.5]


@pytest.mark.tmux
def test_ctrl_z_suspends_to_the_shell_and_fg_draws_the_app_again(tmp_path):
    """ctrl+z hands the terminal to an interactive shell; fg brings the app back, drawn whole;
    F1 opens the help."""
    tmux = Tmux("env PS1='READY> ' bash --norc --noprofile", 100, 30)
    try:
        tmux.keys(f"cd {os.getcwd()} && XDG_CONFIG_HOME={tmp_path} {sys.executable} -m "
                  f"tui_trainer --dataset subset --out {tmp_path}/runs", "Enter")
        tmux.wait_for(" idle ", timeout=90)
        tmux.keys("C-z")
        screen = tmux.wait_for("Stopped", timeout=30)
        assert "softmax regression on Fashion-MNIST" not in screen
        tmux.keys("fg", "Enter")
        tmux.wait_for("a named recipe; fills the fields below", timeout=30)
        tmux.keys("F1")
        tmux.wait_for("smtui keys", timeout=30)
        tmux.keys("?")                      # closes it (Escape then q at once reads as Alt+q)
        tmux.keys("q")
        wait_until(lambda: tmux.screen().rstrip().endswith("READY>"), timeout=30,
                   what="the shell's prompt after q")
        assert "Traceback" not in tmux.screen() and "error" not in tmux.screen()
    finally:
        tmux.kill()


@pytest.mark.tmux
@pytest.mark.parametrize("theme", ["textual-light", "textual-dark"])
def test_no_tab_draws_on_the_terminals_default_background(tmux_app, tmp_path, theme):
    """Each tab, with a run's predictions and templates drawn, in a light and a dark theme: no
    cell left to the terminal's own background (ESC[49m), which drew dark patches on the
    Predictions (24 lines) and Weights (19) tabs of a light app."""
    t = tmux_app("--dataset", "subset", "--epochs", "2", "--theme", theme)
    t.wait_for("idle")
    t.keys("s")
    t.wait_for("finished", timeout=120)
    for key, seen in (("1", "batch size"), ("2", "train loss"), ("3", "class probabilities"),
                      ("4", "threshold"), ("5", "runs"), ("6", "softmax"), ("7", "finished"),
                      ("8", "class templates")):
        t.keys(key)
        t.wait_for(seen, timeout=30)
        screen = t.screen_with_styles()
        default_bg = [line for line in screen.splitlines() if "\x1b[49m" in line or ";49m" in
                      line]
        assert default_bg == [], (key, len(default_bg))
    t.keys("q")
    assert wait_exit(tmp_path / "exit") == "EXIT=0"
