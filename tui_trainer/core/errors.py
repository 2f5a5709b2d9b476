"""The one exception type that reaches users as a one-line message instead of a traceback."""

from __future__ import annotations


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


class DataError(SmtuiError):
    """Data files that are missing, truncated or not Fashion-MNIST."""
