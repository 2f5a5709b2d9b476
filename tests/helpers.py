"""What several test modules use: waits on conditions, the app with small settings, the CLI in
this process, a run's status, and a real terminal (tmux). Fixtures are in conftest.py."""

from __future__ import annotations

import csv
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from procs import child_env


def wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    """Until `predicate()` is true, checked every 50 ms; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in time")
        time.sleep(0.05)


async def wait_for(pilot, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """`wait_until` for an app under Pilot: the app's loop runs while waiting."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout:g} s")
        await pilot.pause(0.05)


async def settle(pilot, timeout: float = 20.0) -> None:
    """Until the app and its screen have handled every message posted to them before this call:
    whatever the keys pressed so far set off has happened, or fails after `timeout` seconds.
    What a test asserts did *not* happen is asserted after this, never after a fixed pause."""
    app = pilot.app
    for pump in (app, app.screen, app.focused or app.screen):
        done = asyncio.Event()
        pump.call_later(done.set)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{pump!r} did not handle its messages in {timeout:g} s")
    await pilot.pause()


def make_app(data_dir, out, **kw):
    """The app with a small, quick config (batch 16, 2 epochs, lr 0.5, CPU) writing to `out`."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp

    base = dict(data_dir=str(data_dir), out=str(out), batch_size=16, epochs=2, lr=0.5,
                device="cpu")
    return SmtuiApp(TrainConfig(**{**base, **kw}))


async def train_to_end(pilot, app, timeout: float = 60.0) -> None:
    """Press Start and wait until the run has ended; it must have finished."""
    await pilot.press("s")
    await wait_for(pilot, lambda: not app.controller.state.running and app.controller.state.last_status != "idle",
                   timeout)
    assert app.controller.state.last_status == "finished", f"the run ended {app.controller.state.last_status}"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`smtui ARGS` in this process: (exit code, stdout, stderr)."""
    from tui_trainer.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def status_of(run_dir: Path) -> dict:
    """A run directory's status.json."""
    return json.loads((Path(run_dir) / "status.json").read_text())


tmux_only = pytest.mark.skipif(subprocess.run(["which", "tmux"], capture_output=True).returncode
                               != 0 and not os.environ.get("CI"), reason="tmux not installed")


class Tmux:
    """A detached tmux session running one command, on a tmux server of its own: tests that run
    at once (parallel workers) never share a server, so none can catch one exiting as another
    test ends its last session."""

    def __init__(self, command: str, width: int = 100, height: int = 30) -> None:
        self.name = f"smtui-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]
        # A clean environment, as a user's shell would give: under pytest's own variables the
        # app inside tmux was seen to miss window resizes.
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
               "LANG": "C.UTF-8"}
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), command], check=True, env=env)

    def screen(self) -> str:
        r = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True,
                           text=True)
        return r.stdout

    def screen_with_styles(self) -> str:
        """The screen with its escape sequences (colours, backgrounds) as tmux has them."""
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-e", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def resize(self, width: int, height: int) -> None:
        subprocess.run([*self.tmux, "resize-window", "-t", self.name, "-x", str(width), "-y",
                        str(height)], check=True)

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", self.name],
                              capture_output=True).returncode == 0

    def wait_for(self, *texts: str, timeout: float = 60.0) -> str:
        """The screen, once any of `texts` is on it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if any(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts!r} never appeared; screen was:\n{self.screen()}")

    def wait_screen(self, ok, what: str, timeout: float = 60.0) -> str:
        """The screen, once `ok(screen)` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if ok(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{what} never happened; screen was:\n{self.screen()}")

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        """The screen, once `text` has left it."""
        return self.wait_screen(lambda screen: text not in screen, f"{text!r} leaving", timeout)

    def wait_focused(self, label: str, timeout: float = 30.0) -> None:
        """Until the form row `label` has the focus (its field drawn bold)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            styled = subprocess.run([*self.tmux, "capture-pane", "-e", "-p", "-t", self.name],
                                    capture_output=True, text=True).stdout
            for line in styled.splitlines():
                plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
                if plain.lstrip().startswith(label + "  ") and "\x1b[1m" in line:
                    return
            time.sleep(0.1)
        raise AssertionError(f"the {label!r} field never got the focus")

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def wait_exit(path, timeout: float = 10.0) -> str:
    """The `EXIT=<code>` line the session writes when smtui has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError("smtui did not exit in time")


def smtui(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    """`smtui ARGS` in a child process, to its end."""
    return subprocess.run([sys.executable, "-m", "tui_trainer", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kw)


def start_headless(data_dir, out, *extra, **kw) -> subprocess.Popen:
    """A long headless run (batch 2) whose stdout can be read line by line."""
    env = child_env()
    return subprocess.Popen([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                             str(data_dir), "--out", str(out), "--batch-size", "2",
                             "--epochs", "1000", *extra],
                            stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=kw.pop("stderr", subprocess.PIPE), text=True, env=env, **kw)


def the_run(out: Path) -> Path:
    """The one run directory in `out`, once it exists."""
    wait_until(lambda: out.is_dir() and any(out.iterdir()), what="a run directory")
    return next(out.iterdir())


def epochs_done(run_dir: Path) -> int:
    """Epochs recorded in a run's metrics.jsonl so far."""
    try:
        return len((run_dir / "metrics.jsonl").read_text().splitlines())
    except OSError:
        return 0


def small_session(data_dir, out, **kw):
    """A prepared single run of one epoch at batch 16 on the CPU."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.train import prepare

    return prepare(TrainConfig(**{"data_dir": str(data_dir), "out": str(out), "batch_size": 16,
                                  "epochs": 1, "device": "cpu", **kw}))


GOOD = {"epoch": 1, "train_loss": 0.9, "train_acc": 0.7, "test_acc": 0.72, "seconds": 1.0,
        "lr": 0.1}


def make_run(folder: Path, rows: list[bytes], config: bytes = b"{}", status: bytes | None = None):
    """A run directory written by hand, as another program or version might leave one."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_bytes(config)
    (folder / "metrics.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    if status is not None:
        (folder / "status.json").write_bytes(status)
    return folder


def wait_for_epoch(proc, n=1, timeout=60):
    """Until a headless child has printed `n` epoch lines."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("epoch"):
            seen += 1
            if seen >= n:
                return
    raise AssertionError("no epoch line in time")


def assert_run_files_whole(run_dir, killed=False):
    """Every line of both metrics files whole; the CSV holds the same epochs as the JSON lines.
    After a kill -9 between the two appends of an epoch the CSV may lack that last epoch (two
    files cannot be appended at once); a resume rewrites it from metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    with open(run_dir / "metrics.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert [int(r["epoch"]) for r in csv_rows] == list(range(1, len(csv_rows) + 1))
    assert len(csv_rows) in ((len(rows), len(rows) - 1) if killed else (len(rows),))
    return rows


def long_app(data_dir, out, **kw):
    """An app whose run lasts until the test ends it (batch 4, 500 epochs)."""
    return make_app(data_dir, out, **{"batch_size": 4, "epochs": 500, **kw})


def deterministic(rows: list[dict]) -> list[dict]:
    """Metrics rows without what depends on the machine's pace (seconds, CPU use, memory)."""
    from tui_trainer.store.rundir import MACHINE_FIELDS

    return [{k: v for k, v in r.items() if k != "seconds" and k not in MACHINE_FIELDS}
            for r in rows]


class FixedMeter:
    """The machine's figures, fixed, for snapshots (the real ones change from run to run)."""

    def sample(self) -> dict:
        return {"cpu_percent": 50.0, "memory_mb": 800.0}


def fix_machine(app) -> None:
    app.meter = FixedMeter()
    app.show_machine()
