"""The one exception type that reaches users as a one-line message instead of a traceback."""

from __future__ import annotations

import sys

try:
    import resource   # POSIX: the descriptor limit named in out_of_descriptors
except ImportError:
    pass


class SmtuiError(Exception):
    """A problem the user can fix: bad input, missing data, an unwritable folder.

    The CLI prints `smtui: error: <message>` and exits with `exit_code`; the TUI shows the message.
    """

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


MEMORY_HINT = "lower --batch-size or --resize (a sweep: fewer learning rates)"


def out_of_memory(exc: BaseException) -> SmtuiError | None:
    """The user's error for an allocation that failed (the CPU's `can't allocate memory`, CUDA's
    `out of memory`, Python's MemoryError): what did not fit and what to lower; None for any
    other exception. A large --resize, batch or sweep on a small machine is the user's to fix,
    not an internal error."""
    text = str(exc).strip()
    lowered = text.lower()
    if not (isinstance(exc, MemoryError) or isinstance(exc, RuntimeError) and (
            "can't allocate memory" in lowered or "out of memory" in lowered)):
        return None
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    return SmtuiError(f"out of memory: {first}; {MEMORY_HINT}")


def out_of_descriptors(exc: BaseException) -> SmtuiError | None:
    """The user's error for a process that ran out of file descriptors (`ulimit -n`): a
    DataLoader's workers take several each. None for any other exception."""
    import errno
    if not (isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE)
            or isinstance(exc, RuntimeError) and "too many open files" in str(exc).lower()):
        return None   # (torch's RuntimeError: the workers' messages could not be shared)
    try:   # imported already: no descriptor is left to import it with now
        limit = f" (ulimit -n is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})"
    except (NameError, OSError, ValueError):
        limit = ""
    return SmtuiError(f"too many open files{limit}: the book loader's worker processes need "
                      "more; use fewer (--num-workers, or 0) or raise the limit (ulimit -n "
                      "4096)")


def let_go(exc: BaseException) -> None:
    """Free what the frames of `exc`'s traceback hold (a DataLoader iterator that failed while
    starting its workers keeps their pipes open): with no descriptor left, the run's failure
    could not even be recorded. The iterator's own clean-up then fails inside torch (it was
    never whole); that is not the user's to see."""
    import gc
    import traceback
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None
    try:
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        gc.collect()
    finally:
        sys.unraisablehook = hook


class DataError(SmtuiError):
    """Data files that are missing, truncated or not Fashion-MNIST."""
