"""The app and the loss of its terminal: a driver that survives it, a watch that notices it.

When an SSH connection drops or a terminal window closes, every write to the terminal fails (EIO).
Textual writes from a background thread through a bounded queue: once that thread has died on
the first failed write, the next redraw blocks the event loop forever, the SIGHUP that asked the
app to quit is never handled, and the training run is left without its last checkpoint. This
driver writes through a file that turns a failed write into silence, so the event loop keeps
running, the app quits as asked, and the run ends with a checkpoint.

The hang-up itself may never come: a `su` between the terminal and smtui swallows it, a pane
killed with a burst of mouse events queued left the app reading end-of-file forever, a program
ignores SIGHUP (nohup). A TUI without its terminal can never be used again, and on a GPU server
it holds the GPU until someone finds it. So the terminal is asked directly (`TerminalWatch`):
a hung-up tty answers every ioctl with EIO, whatever carried the hang-up or swallowed it.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import IO, Callable

from .textual_private import wrap_driver_file

TERMINAL_LOST = "the terminal was lost (its window closed or the connection dropped)"


class QuietFile:
    """A proxy of the terminal's file whose writes stop, silently, at the first failure."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.dead = False

    def write(self, text: str) -> int:
        if not self.dead:
            try:
                return self.file.write(text)
            except (OSError, ValueError):
                self.dead = True
        return len(text)

    def flush(self) -> None:
        if not self.dead:
            try:
                self.file.flush()
            except (OSError, ValueError):
                self.dead = True

    def fileno(self) -> int:
        return self.file.fileno()

    def isatty(self) -> bool:
        return not self.dead and self.file.isatty()

    def __getattr__(self, name: str):
        return getattr(self.file, name)


def quiet_driver(base: type) -> type:
    """`base` (Textual's driver for this platform) with its output made quiet on failure; other
    platforms' drivers are returned as they are."""
    if base.__name__ != "LinuxDriver":
        return base

    class QuietLinuxDriver(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            wrap_driver_file(self, QuietFile)

    return QuietLinuxDriver


def terminal_lost(fd: int) -> bool:
    """Whether the terminal on `fd` has hung up (EIO), or is no longer this process's."""
    try:
        import termios
    except ImportError:   # no POSIX terminals here: nothing to watch
        return False
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return bool(exc.args) and exc.args[0] in (errno.EIO, errno.ENXIO, errno.EBADF)
    except (OSError, ValueError):
        return True
    return False


class TerminalWatch:
    """A daemon thread that asks, twice a second, whether the app's terminal is still there.

    When it is not, it (1) asks the app to quit as a hang-up does (`on_lost`, which must be
    thread-safe), (2) stops every run at its next batch itself (`stop_runs`: the app's loop may
    be stuck on the dead terminal), and (3) if the app has still not closed (`stop()` not
    called) once those runs have ended and `grace_s` more have passed, ends the process with
    129, the hang-up's code: their checkpoints are written by then."""

    def __init__(self, fd: int, on_lost: Callable[[], object],
                 stop_runs: Callable[[], list], every_s: float = 0.5,
                 grace_s: float = 30.0) -> None:
        self.fd, self.on_lost, self.stop_runs = fd, on_lost, stop_runs
        self.every_s, self.grace_s = every_s, grace_s
        self.closed = threading.Event()
        self.lost = threading.Event()

    def start(self) -> TerminalWatch:
        threading.Thread(target=self.run, name="smtui-terminal-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        """The app has closed: nothing more to watch, nothing to end."""
        self.closed.set()

    def run(self) -> None:
        while not self.closed.wait(self.every_s):
            if terminal_lost(self.fd):
                break
        else:
            return
        self.lost.set()
        try:
            self.on_lost()
        except RuntimeError:   # the app's loop has just closed: it is leaving anyway
            pass
        for control in self.stop_runs():
            control.request_stop(TERMINAL_LOST)
        for control in self.stop_runs():
            control.finished.wait(600)
        if not self.closed.wait(self.grace_s):
            os._exit(129)
