"""ctrl+z through every way smtui is started: from an interactive shell (directly, under make,
under `bash -c`), where `fg` brings it back, and as tmux's own command, where nothing could and
the app says so instead of freezing; and the time stopped left out of the epochs' seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.tmux import Tmux, tmux_only
from tests.support.runs import start_headless
from tests.support.waits import wait_for_epoch, wait_until
from tests.support.procs import finish

SMTUI = f"{sys.executable} -m tui_trainer"


def interactive_shell(tmp_path) -> Tmux:
    """tmux running an interactive bash (job control on) in `tmp_path`, prompt `READY>`."""
    tmux = Tmux(f"cd {tmp_path} && env PS1='READY> ' bash --norc -i", 100, 30)
    tmux.wait_for("READY>", timeout=30)
    return tmux


@pytest.mark.tmux
@tmux_only
@pytest.mark.parametrize("how", ["direct", "make", "bash -c"])
def test_ctrl_z_stops_smtui_with_what_started_it_and_fg_brings_it_back(data_dir, tmp_path, how):
    (tmp_path / "Makefile").write_text(f"tui:\n\t{SMTUI} --out runs\n")
    command = {"direct": f"{SMTUI} --out runs", "make": "make -s tui",
               "bash -c": f"bash -c '{SMTUI} --out runs; echo AFTER'"}[how]
    tmux = interactive_shell(tmp_path)
    try:
        tmux.keys(command, "Enter")
        tmux.wait_for("press s (or Start)", "Setup", timeout=90)
        tmux.keys("C-z")
        screen = tmux.wait_for("Stopped", timeout=30)   # the shell has the terminal back
        assert screen.rstrip().endswith("READY>")
        tmux.keys("fg", "Enter")
        tmux.wait_for("Setup", timeout=30)              # the app drawn again
        tmux.keys("q")
        # Gone for good: the app's screen away and the shell's prompt last (an earlier prompt
        # line is on the screen all along), and no smtui process left behind.
        screen = tmux.wait_screen(lambda screen: "Setup" not in screen and screen.rstrip()
                                  .endswith("READY>"), "the app gone, the prompt back")
        assert "Traceback" not in screen and ("AFTER" in screen) == (how == "bash -c")
        tmux.keys("jobs", "Enter")
        screen = tmux.wait_screen(lambda screen: screen.rstrip().endswith("READY>") and
                                  "jobs" in screen, "jobs listed")
        assert "Stopped" not in screen.split("jobs")[-1], screen
    finally:
        tmux.kill()


@pytest.mark.tmux
@tmux_only
def test_ctrl_z_pressed_twice_stops_smtui_once(tmp_path):
    """ctrl+z twice in a row from an interactive shell: one stop, and `fg` brings the app back
    for good; q then ends it with 0. The second ctrl+z, queued behind the first, stopped the app
    again as soon as fg had continued it (the shell said exit 147, and q went to the shell)."""
    tmux = interactive_shell(tmp_path)
    try:
        tmux.keys(f"{SMTUI} --out runs", "Enter")
        tmux.wait_for("Setup", timeout=90)
        tmux.keys("C-z", "C-z")
        tmux.wait_for("Stopped", timeout=30)
        tmux.keys("clear; fg", "Enter")
        tmux.wait_for("Setup", timeout=30)
        tmux.keys("q")
        tmux.wait_screen(lambda screen: "Setup" not in screen and screen.rstrip()
                         .endswith("READY>"), "the app gone, the prompt back")
        tmux.keys("clear; echo EXIT=$?; jobs", "Enter")
        screen = tmux.wait_for("EXIT=", timeout=30)
        assert "EXIT=0" in screen and "Stopped" not in screen, screen
    finally:
        tmux.kill()


@pytest.mark.tmux
@tmux_only
def test_ctrl_z_where_nothing_could_continue_smtui_says_so(tmp_path):
    """tmux's own command (no job-control shell above): stopping would leave a blank pane that
    only `kill -CONT` from elsewhere could bring back; the app stays and says why."""
    tmux = Tmux(f"cd {tmp_path} && {SMTUI} --out runs", 100, 30)
    try:
        tmux.wait_for("Setup", timeout=90)
        tmux.keys("C-z")
        tmux.wait_for("no shell with job control", timeout=30)
        tmux.keys("q")
        wait_until(lambda: not tmux.alive(), timeout=60, what="the app to quit")
    finally:
        tmux.kill()


@pytest.mark.process
def test_the_time_stopped_by_ctrl_z_is_not_an_epochs_time(data_dir, tmp_path):
    """Headless, stopped for 4 s in the middle of its epochs and continued: no epoch's seconds
    hold those 4 s (they did: 21.8 s against 3.1 s)."""
    proc = start_headless(data_dir, tmp_path / "runs", "--epochs", "6", "--batch-size", "16")
    try:
        wait_for_epoch(proc, 1, timeout=120)
        os.kill(proc.pid, signal.SIGTSTP)
        stopped = time.monotonic()
        time.sleep(4.0)   # the stimulus: how long the process stays stopped
        os.kill(proc.pid, signal.SIGCONT)
        assert time.monotonic() - stopped >= 4.0
        out, err = finish(proc, timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    assert max(row["seconds"] for row in rows) < 3.0, [row["seconds"] for row in rows]


@pytest.mark.tmux
@tmux_only
@pytest.mark.parametrize("redirect", ["< /dev/null", "0<&-"])
def test_a_tui_without_a_terminal_on_stdin_is_one_line(tmp_path, redirect):
    """stdout on the terminal but stdin not: the app drew a screen no key could reach and spun
    a core (`< /dev/null`), or ended in a traceback (`0<&-`); now one line and exit 2, for the
    app and for `smtui view`."""
    for command in ("", "view runs"):
        (tmp_path / "runs").mkdir(exist_ok=True)
        out = tmp_path / f"out{len(command)}"
        tmux = Tmux(f"cd {tmp_path} && {SMTUI} {command} {redirect} 2>{out}; echo EXIT=$?; "
                    "sleep 30", 100, 30)
        try:
            tmux.wait_for("EXIT=", timeout=60)
            assert "EXIT=2" in tmux.screen()
        finally:
            tmux.kill()
        assert out.read_text().strip() == ("smtui: error: the TUI needs a terminal, and stdin "
                                           "is not one; use --no-ui for headless training")


@pytest.mark.tmux
@tmux_only
def test_train_ch3_from_a_thread_on_a_terminal_prints_its_epochs(small_data_dir, tmp_path):
    """The app needs the main thread (signals): from another thread train_ch3 prints a line per
    epoch where it gave a Textual traceback and trained nothing."""
    (tmp_path / "prog.py").write_text(
        "import threading, torch\nfrom torch import nn\nfrom tui_trainer import d2l\n"
        "train_iter, test_iter = d2l.load_data_fashion_mnist(10)\n"
        "net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n"
        "def work():\n"
        "    try:\n"
        "        d2l.train_ch3(net, train_iter, test_iter, nn.CrossEntropyLoss(reduction='none'),"
        " 2, torch.optim.SGD(net.parameters(), lr=0.1))\n"
        "    except AssertionError:\n        pass\n"
        "t = threading.Thread(target=work); t.start(); t.join(); print('JOINED')\n")
    tmux = Tmux(f"cd {tmp_path} && SMTUI_DATA_DIR={small_data_dir} {sys.executable} prog.py; "
                "sleep 30", 100, 30)
    try:
        screen = tmux.wait_for("JOINED", "Traceback", timeout=120)
        assert "Traceback" not in screen and "epoch 2/2" in screen, screen
    finally:
        tmux.kill()


@pytest.mark.tmux
@tmux_only
def test_the_app_survives_stop_and_continue_and_quits_on_q(tmp_path):
    """kill -STOP / -CONT three times (tmux's own command: no shell takes the terminal), then
    ctrl+z and fg twice from an interactive shell: one key reader throughout (each SIGCONT
    started another, and q then hung joining them), and q quits each time."""
    def app_pid() -> int:
        found = subprocess.run(["pgrep", "-n", "-f", f"tui_trainer --out {tmp_path}/runs"],
                               capture_output=True, text=True).stdout.split()
        return int(found[0])

    tmux = Tmux(f"{SMTUI} --out {tmp_path}/runs; sleep 30", 100, 30)
    try:
        tmux.wait_for("Setup", timeout=90)
        # Counted once torch has loaded: its import, in a thread of its own, starts threads of
        # torch's own and then ends.
        tmux.wait_for("idle", timeout=90)
        pid = app_pid()
        threads = lambda: len(os.listdir(f"/proc/{pid}/task"))  # noqa: E731
        before = threads()
        for _ in range(3):
            os.kill(pid, signal.SIGSTOP)
            wait_until(lambda: open(f"/proc/{pid}/stat").read().split()[2] == "T",
                       what="the app stopped")
            os.kill(pid, signal.SIGCONT)
        tmux.keys("5")   # a key read after the continues
        tmux.wait_for("filter, e.g.", timeout=30)   # the Runs tab
        assert threads() <= before, (before, threads())
        tmux.keys("q")
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=60, what="the app's exit")
    finally:
        tmux.kill()
    tmux = interactive_shell(tmp_path)
    try:
        tmux.keys(f"{SMTUI} --out {tmp_path}/runs", "Enter")
        tmux.wait_for("Setup", timeout=90)
        pid = app_pid()
        for _ in range(2):
            tmux.keys("C-z")
            tmux.wait_for("Stopped", timeout=30)
            tmux.keys("clear; fg", "Enter")
            tmux.wait_for("Setup", timeout=30)
        tmux.keys("q")
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=60, what="the app's exit")
    finally:
        tmux.kill()


STOPPED_ONCE = """
import contextlib, os, signal, sys
from tui_trainer.core.suspend import SuspendClock, stop_job

clock = SuspendClock(lambda: None).install()

@contextlib.contextmanager
def terminal_given_back():
    # The terminal is in its own mode again (cooked): a ctrl+z typed now is the terminal's,
    # a SIGTSTP to the job, as the key that started the stop was still being let go of.
    os.kill(os.getpid(), signal.SIGTSTP)
    yield

stop_job(clock, terminal_given_back)
print("continued", flush=True)
"""


@pytest.mark.process
def test_ctrl_z_stops_smtui_once_when_a_second_one_comes_as_it_lets_go(tmp_path):
    """A second ctrl+z, typed while smtui gives the terminal back, reached it as the
    terminal's SIGTSTP and stopped it; `fg` then continued it into its own stop, so it stopped
    again at once (exit 147 in the shell, the app gone from the screen). It stops once; fg
    brings it back for good."""
    proc = subprocess.Popen([sys.executable, "-c", STOPPED_ONCE], stdout=subprocess.PIPE,
                            text=True, process_group=0)   # a group of its own, as a job's
    def next_change() -> int:
        """The process's next stop or exit, as the shell waits for it."""
        changes: list[tuple[int, int]] = []

        def changed() -> bool:
            changes.append(os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG))
            return changes[-1][0] == proc.pid
        wait_until(changed, timeout=60, what="the process to stop or end")
        return changes[-1][1]
    try:
        assert os.WIFSTOPPED(next_change())
        os.kill(proc.pid, signal.SIGCONT)                        # fg
        status = next_change()
        assert not os.WIFSTOPPED(status), f"stopped again by {os.WSTOPSIG(status)}"
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert proc.stdout is not None and proc.stdout.read() == "continued\n"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)   # stopped or not
            proc.wait()
