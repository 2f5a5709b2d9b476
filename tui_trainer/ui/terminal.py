"""A Textual driver that survives the loss of its terminal.

When an SSH connection drops or a terminal window closes, every write to the terminal fails (EIO).
Textual writes from a background thread through a bounded queue: once that thread has died on
the first failed write, the next redraw blocks the event loop forever, the SIGHUP that asked the
app to quit is never handled, and the training run is left without its last checkpoint. This
driver writes through a file that turns a failed write into silence, so the event loop keeps
running, the app quits as asked, and the run ends with a checkpoint.
"""

from __future__ import annotations

from typing import IO

from .textual_private import wrap_driver_file


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
