"""Textual's private names that smtui relies on, in this module alone.

Each is used because no public API does the job:

- `App._check_bindings(key, priority=)`: runs the binding a key would reach by bubbling up, now
  (keys.py: keys act in the order typed; Textual's own key dispatch calls it the same way).
- `App._handle_exception(error)`: the one place every crash inside the app passes; smtui stops
  its training runs there, with a checkpoint, before the app exits (`on_crash`).
- `RichLog._line_cache`: a RichLog widget caches its rendered lines; a selection changes how
  they look (`clear_line_cache`).
- `LinuxDriver._file`: the terminal's file the driver writes through, replaced by one that
  survives the terminal's loss (terminal.py, `wrap_driver_file`).

`missing()` lists the names this Textual no longer has: a test runs it, so an upgrade that
moves one fails there, by name, rather than in a key press or a dropped SSH connection.
pyproject.toml pins Textual below its next major version.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from textual.app import App


async def check_bindings(app: App, key: str, priority: bool = False) -> bool:
    """Run the binding `key` reaches from the focused widget up (priority bindings only, when
    `priority`); True when one ran."""
    return await app._check_bindings(key, priority=priority)


def on_crash(app: App, callback: Callable[[BaseException], None]) -> None:
    """Call `callback(error)` when an exception inside `app` is about to end it, before
    Textual's own handling (which exits and prints the traceback)."""
    original = app._handle_exception

    def handle(error: Exception) -> None:
        callback(error)
        original(error)
    app._handle_exception = handle   # type: ignore[method-assign]


def clear_line_cache(log: Any) -> None:
    """Forget the rendered lines of a RichLog widget, so the next refresh draws them again."""
    log._line_cache.clear()


def wrap_driver_file(driver: Any, wrap: Callable[[Any], Any]) -> None:
    """Replace the file `driver` writes the terminal's output through by `wrap(file)`."""
    driver._file = wrap(driver._file)


def missing() -> list[str]:
    """The private names above that this Textual lacks (empty: every one is there)."""
    from textual.widgets import RichLog

    gone = []
    check = getattr(App, "_check_bindings", None)
    if not callable(check) or "priority" not in inspect.signature(check).parameters:
        gone.append("App._check_bindings(key, priority=)")
    if not callable(getattr(App, "_handle_exception", None)):
        gone.append("App._handle_exception")
    if not hasattr(RichLog(), "_line_cache"):
        gone.append("RichLog._line_cache")
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:   # not on this platform: nothing of it is used
        pass
    else:
        if "self._file" not in inspect.getsource(LinuxDriver.__init__):
            gone.append("LinuxDriver._file")
    return gone
