"""What a program printed while the app held its terminal, kept in order with its epochs.

While the app runs, Textual points `sys.stdout` and `sys.stderr` at itself and drops what is
written there unless a target asks for it (`App.begin_capture_print`). A learner's `print` in
their updater, a warning from their net: their debugging output, lost. A `Transcript` is such a
target. Textual calls it on the printing thread at the moment of each write, so it knows how
many epochs were done when a line was printed. Whole lines go to the Log tab as they come; once
the window has closed, a script's writes are written again, each stream to its own, between the
epoch lines, in the order plain Python would have printed them in a pipe.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol

LIMIT_CHARS = 4_000_000   # kept for the scrollback; beyond it, the writes are counted


class Stream(Protocol):
    def write(self, text: str) -> None: ...


class Transcript:
    """The writes to stdout and stderr while the app was live, each tagged with the number of
    epochs done then (`epochs_done()`, read on the printing thread)."""

    def __init__(self, epochs_done: Callable[[], int],
                 on_line: Callable[[str, bool], object]) -> None:
        self.epochs_done = epochs_done
        self.on_line = on_line   # a whole line (without its newline), and whether to stderr
        self.lock = threading.Lock()
        self.writes: list[tuple[int, bool, str]] = []
        self.partial = {False: "", True: ""}   # each stream's line not ended yet
        self.kept = 0
        self.dropped = 0

    def post_message(self, message) -> bool:
        """One write, as Textual's print capture hands it over (`events.Print`: its `text`,
        and `stderr`)."""
        stderr, text = bool(message.stderr), str(message.text)
        with self.lock:
            if self.kept + len(text) <= LIMIT_CHARS:
                self.writes.append((self.epochs_done(), stderr, text))
                self.kept += len(text)
            else:
                self.dropped += len(text)
            *whole, self.partial[stderr] = (self.partial[stderr] + text).split("\n")
        for line in whole:
            self.on_line(line.rpartition("\r")[2], stderr)   # a progress line's last state
        return True

    async def _post_message(self, message) -> bool:
        """The other half of Textual's `MessageTarget`: the same, from a coroutine."""
        return self.post_message(message)

    def write_out(self, epoch_lines: list[str], out: Stream, err: Stream) -> None:
        """Everything written, on `out` and `err`, with `epoch_lines[i]` (one per epoch done,
        on `out`) after the writes made while i epochs were done."""
        with self.lock:
            writes = list(self.writes)
            dropped = self.dropped
        position = 0
        for done, line in enumerate(epoch_lines):
            while position < len(writes) and writes[position][0] <= done:
                _, stderr, text = writes[position]
                (err if stderr else out).write(text)
                position += 1
            out.write(line + "\n")
        for _, stderr, text in writes[position:]:
            (err if stderr else out).write(text)
        if dropped:
            err.write(f"d2l: {dropped:,} more characters printed while the window was open "
                      "were not kept\n")
