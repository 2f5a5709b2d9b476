"""A learner's mistakes in one line, in their words.

When a learner's net, loss or updater raises inside smtui's loop, or one of smtui's checks refuses
their objects, what they need is where in *their* file and what went wrong:

    noreshape.py, line 16, in net: RuntimeError: mat1 and mat2 shapes cannot be multiplied
    (256x28 and 784x256) (SMTUI_DEBUG=1 shows the whole traceback)

not thirty lines through smtui's and torch's frames ending in a message about smtui's internals.
The line names the learner's last frame in the traceback (their file, line and function), else
the line of their program that called the book's function (`d2l.train_ch3(...)`). Setting
`SMTUI_DEBUG=1` shows the whole traceback instead, as it does for the CLI's internal errors.

For a script, the exception is still raised (a learner's `try` around `train_ch3` catches it as
before); only when nothing catches it does the interpreter's hook print the one line in place of
the traceback, and the script exits 1 as it would have.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from .errors import SmtuiError

DEBUG_VAR = "SMTUI_DEBUG"
HINT = f"({DEBUG_VAR}=1 shows the whole traceback)"
_PACKAGE = Path(__file__).resolve().parents[1]   # tui_trainer, every layer
_NOT_LEARNERS = tuple({Path(p).resolve() for name in ("stdlib", "platstdlib", "purelib", "platlib")
                       if (p := sysconfig.get_paths().get(name))})


def debugging() -> bool:
    """Whether the user asked for whole tracebacks."""
    return bool(os.environ.get(DEBUG_VAR))


@functools.lru_cache(maxsize=512)
def is_learner_file(filename: str) -> bool:
    """A file of the learner's: not smtui's own, not Python's library or an installed package
    (torch), not generated code (`<string>`)."""
    if not filename or filename.startswith("<"):
        return False
    path = Path(filename).resolve()
    return not (path.is_relative_to(_PACKAGE)
                or any(path.is_relative_to(root) for root in _NOT_LEARNERS))


def learner_frames(tb) -> list[traceback.FrameSummary]:
    """The frames of a traceback that are in the learner's files, outermost first."""
    return [f for f in traceback.extract_tb(tb) if is_learner_file(f.filename)]


def call_site() -> traceback.FrameSummary | None:
    """The innermost frame of the learner's on the current stack: the line that called into
    smtui (`d2l.train_ch3(...)`)."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        if is_learner_file(frame.filename):
            return frame
    return None


def place(filename: str) -> str:
    """Where a learner knows their code by: a file's name, or a notebook cell's as IPython
    names it (`Cell In[5]`), not the kernel's temporary file (`444276797.py`)."""
    ipython = sys.modules.get("IPython")
    shell = None
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
        except Exception:   # an IPython that cannot say: the file's name
            shell = None
    named = None
    if shell is not None:
        try:
            named = shell.compile.format_code_name(filename)
        except Exception:   # an IPython without the map of cells to files
            named = None
    return " ".join(named) if named else Path(filename).name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def one_line(exc: BaseException, site: traceback.FrameSummary | None = None,
             hint: str = "") -> str:
    """`exc` as one line: where in the learner's files (their last frame in its traceback, else
    `site`), the error, `hint` (what to do), and how to see the whole traceback. smtui's own
    one-line errors (SmtuiError) keep their words; others are `Type: message`."""
    frames = learner_frames(exc.__traceback__)
    frame = frames[-1] if frames else site
    where = ""
    if frame is not None:
        where = f"{place(frame.filename)}, line {frame.lineno}"
        where += f", in {frame.name}: " if frame.name != "<module>" else ": "
    what = _first_line(exc) if isinstance(exc, SmtuiError) else \
        f"{type(exc).__name__}: {_first_line(exc)}".rstrip(": ")
    from .console import inert  # the learner's message, printed as text, never as escapes
    return inert(f"{where}{what}{'; ' + hint if hint else ''} {HINT}")


class UserCodeError(SmtuiError):
    """An exception raised inside the learner's code, as one line naming their file and line."""


def explain(exc: BaseException, hint: str = "") -> BaseException:
    """A `Model.explain`: an exception whose traceback passes through the learner's files
    becomes a one-line `UserCodeError` naming their last frame; any other, and every one while
    `SMTUI_DEBUG` is set, is left as it is."""
    if isinstance(exc, (SmtuiError, KeyboardInterrupt)) or debugging():
        return exc
    frames = learner_frames(exc.__traceback__)
    if not frames:
        return exc
    if isinstance(exc, SystemExit):   # their exit ends the run, never as a success
        f = frames[-1]
        error = UserCodeError(f"{place(f.filename)}, line {f.lineno}, in {f.name}: your "
                              f"code called sys.exit({exc.code!r}): the run stopped there "
                              f"{HINT}")
        error.__cause__ = exc
        return error
    error = UserCodeError(one_line(exc, hint=hint))
    error.__cause__ = exc
    return error


# ---------------------------------------------------------------- the script's last word
def in_learners_words(fn: Callable) -> Callable:
    """Wrap one of the book's functions a learner's script calls: an exception it raises is
    marked with its one line (`one_line`, from the learner's call site) and raised on; if the
    script does not catch it, the interpreter's hook prints that line, not the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except Exception as exc:
            if not debugging():
                mark(exc, str(exc) if isinstance(exc, UserCodeError)
                     else one_line(exc, call_site()))
            raise
    return wrapper


def mark(exc: BaseException, line: str) -> None:
    """Give `exc` the line to print if nothing catches it, and install the hooks that do."""
    exc.smtui_line = line   # type: ignore[attr-defined]
    install_hooks()


def stopped(message: str) -> KeyboardInterrupt:
    """The KeyboardInterrupt that a stop (a key, Ctrl+C) raises in a learner's script, marked so
    that, uncaught, its traceback shows the learner's frames alone, as plain Python's Ctrl+C
    shows theirs (three frames of smtui's stood between their line and the interrupt)."""
    exc = KeyboardInterrupt(message)
    exc.smtui_stop = True   # type: ignore[attr-defined]
    install_hooks()
    return exc


def learners_traceback(value: BaseException, tb) -> str:
    """`value`'s traceback as Python prints it, with only the learner's frames."""
    frames = traceback.StackSummary.from_list(learner_frames(tb))
    return "".join(["Traceback (most recent call last):\n", *frames.format(),
                    *traceback.format_exception_only(type(value), value)])


@functools.lru_cache(maxsize=1)
def install_hooks() -> None:
    """Chain the interpreter's and threading's hooks for uncaught exceptions, once: a marked
    exception prints its line (a stop, its learner's frames); any other goes to the hook that
    was there before."""
    before, thread_before = sys.excepthook, threading.excepthook

    def hook(kind, value, tb) -> None:
        line = getattr(value, "smtui_line", None) or notebook_only(value, tb)
        if line is None and getattr(value, "smtui_stop", False) and not debugging():
            line = learners_traceback(value, tb).rstrip("\n")
        if line is None:
            before(kind, value, tb)
            return
        from .console import SafeStream
        SafeStream(sys.stderr).write(line + "\n")

    def thread_hook(args) -> None:
        line = getattr(args.exc_value, "smtui_line", None)
        if line is None:
            thread_before(args)
            return
        from .console import SafeStream

        SafeStream(sys.stderr).write(
            f"{line} (in thread {args.thread.name if args.thread else '?'})\n"
        )

    sys.excepthook = hook
    threading.excepthook = thread_hook


NOTEBOOK_MODULES = ("IPython", "matplotlib", "matplotlib_inline")


def notebook_only(exc: BaseException, tb) -> str | None:
    """The line for a learner's import of what only a notebook has (the book's own Animator
    imports IPython's display and matplotlib): the drop-in's names to use instead."""
    if not isinstance(exc, ModuleNotFoundError) or debugging() or \
            (exc.name or "").split(".")[0] not in NOTEBOOK_MODULES:
        return None
    frames = learner_frames(tb)
    if not frames:
        return None
    return one_line(exc, hint="the book's figures need a notebook; in a terminal the drop-in "
                              "draws them: use d2l.Animator, d2l.plot, d2l.show_images and "
                              "d2l.plt (from tui_trainer import d2l)")
