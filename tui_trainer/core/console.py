"""What every driver writes to the console: durations, plurals, the commands that go on with a
run, the signals that stop one, and a stream that survives a console that has gone away.

Shared by the headless drivers and the TUI (which writes to the console after its window has
closed); nothing here imports torch or textual.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
from typing import Any, TextIO

from .events import BatchEnd


def plural(n: int, word: str) -> str:
    """'1 epoch', '2 epochs'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def eta_seconds(e: BatchEnd, epochs: int) -> float:
    """Seconds left in the whole run (not only this epoch), at this epoch's pace per batch."""
    per_batch = e.examples / max(e.examples_per_s, 1e-9) / max(e.batch, 1)
    remaining = (epochs - e.epoch) * e.num_batches + (e.num_batches - e.batch)
    return remaining * per_batch


def fmt_duration(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss past an hour."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


# Signals that stop a headless run cleanly, and the reason recorded in its status.json.
STOP_SIGNALS: dict[int, str] = {
    signal.SIGINT: "interrupted (SIGINT, Ctrl+C)",
    signal.SIGTERM: "terminated (SIGTERM)",
    **({signal.SIGHUP: "hung up (SIGHUP: the terminal or the SSH connection was lost)"}
       if hasattr(signal, "SIGHUP") else {}),
}


class SafeStream:
    """A text stream that absorbs its own failures.

    The console of a long run can vanish under it: a dropped SSH connection (EIO or EPIPE), a
    reader that stopped (`| head -1`), a closed descriptor, `/dev/full`. The first failed write
    marks the stream dead and points its descriptor at /dev/null, so that neither later writes
    nor the interpreter's final flush can raise; training goes on.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.dead = stream is None

    def write(self, text: str) -> None:
        if self.dead or self.stream is None:
            return
        try:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:   # a character the console cannot show: only it is lost
                self.stream.write(encodable(text, getattr(self.stream, "encoding", None)))
            self.stream.flush()
        except (OSError, ValueError):
            self.dead = True
            silence(self.stream)

    def isatty(self) -> bool:
        try:
            return not self.dead and self.stream is not None and self.stream.isatty()
        except (OSError, ValueError):
            return False


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def inert(value: Any) -> Any:
    """Text that came from a file (a run directory, the settings file, a learner's program)
    made safe to print: every control character shown escaped (`\\x1b`), so no escape
    sequence another account planted (an OSC 52 clipboard write, a window title, a cursor move)
    reaches a terminal through a log line, a table or a legend. Dicts (keys too) and lists
    recursively; numbers as they are. The one sanitiser: readers apply it as they read."""
    if isinstance(value, str):
        return CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                           else f"\\u{ord(m[0]):04x}", value)
    if isinstance(value, dict):
        return {inert(k): inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [inert(v) for v in value]
    return value


def encodable(text: str, encoding: str | None = "utf-8") -> str:
    """`text` with what `encoding` cannot hold replaced: a character an ASCII console lacks
    becomes '?', the undecodable bytes of a path (lone surrogates) '\\udcff'-style escapes."""
    encoding = encoding or "utf-8"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")   # lone surrogates
    return text.encode(encoding, "replace").decode(encoding)


def reconfigure_errors(*streams) -> None:
    """Let standard streams replace what their encoding cannot hold (PYTHONIOENCODING=ascii,
    a C locale) instead of raising: one unencodable character must not end the output."""
    for stream in streams:
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def silence(stream: TextIO | None) -> None:
    """Point `stream`'s descriptor at /dev/null (its buffered text then drains harmlessly)."""
    if stream is None:
        return
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def epoch_line(row: dict, epochs: int) -> str:
    """One epoch's metrics row as the headless drivers print it."""
    return (f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  train loss "
            f"{row['train_loss']:.4f}  train acc {row['train_acc']:.4f}  test acc "
            f"{row['test_acc']:.4f}  {row['seconds']:.2f}s")


RESUMABLE = ("stopped", "diverged", "failed")


def _resume(where: str, tui: bool) -> str:
    return (f"smtui --resume {where}   (headless: smtui --no-ui --resume {where})" if tui
            else f"smtui --no-ui --resume {where}")


def next_steps(run_dir: str, state: str, *, tui: bool = False) -> list[str]:
    """The commands that go on with a run that ended in `state`: resume it when it can be
    (stopped, diverged or failed), look at it always. `tui`: resume in the TUI first."""
    where = shlex.quote(run_dir)
    lines = [f"smtui: resume with: {_resume(where, tui)}"] if state in RESUMABLE else []
    lines.append(f"smtui: look at it with: smtui view {where}")
    return lines


def sweep_steps(states: dict[str, str], best: str | None = None, *,
                tui: bool = False, folder: str | None = None) -> list[str]:
    """The commands that go on with a sweep's run directories ({directory: state}): compare
    them (by their `folder` when it holds them alone), resume one that stopped, or look at the
    best (`best`) when all are done."""
    lines = []
    if len(states) > 1:
        lines.append("smtui: compare them with: smtui compare "
                     + " ".join(shlex.quote(d) for d in ([folder] if folder else states)))
    unfinished = [d for d, state in states.items() if state in RESUMABLE]
    if unfinished:
        lines.append(f"smtui: resume one with: {_resume(shlex.quote(unfinished[0]), tui)}   "
                     "(each run directory resumes alone)")
    elif best:
        lines.append(f"smtui: look at the best with: smtui view {shlex.quote(best)}")
    return lines
