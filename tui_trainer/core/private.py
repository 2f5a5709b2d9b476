"""The standard library's private names that smtui relies on, in this module alone.

- `atexit._run_exitfuncs()`: runs the functions registered with `atexit` now. The `smtui`
  process ends with `os._exit` once every file of a run is written (the interpreter's own
  teardown with torch loaded takes 0.4 s on two cores), and the registered functions
  (multiprocessing's, logging's, a learner's own) must still run first; no public API runs them.

`missing()` lists the names this Python no longer has: a test runs it, so a Python that moves
one fails there, by name, rather than at the end of a user's run.
"""

from __future__ import annotations

import atexit


def run_exit_functions() -> None:
    """Run (and clear) the functions registered with `atexit`, as the interpreter's exit would."""
    atexit._run_exitfuncs()


def missing() -> list[str]:
    """The private names above that this Python lacks."""
    return [] if callable(getattr(atexit, "_run_exitfuncs", None)) else ["atexit._run_exitfuncs"]
