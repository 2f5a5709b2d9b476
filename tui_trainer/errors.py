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


class DataError(SmtuiError):
    """Data files that are missing, truncated or not Fashion-MNIST."""
