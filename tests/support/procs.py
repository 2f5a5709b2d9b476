"""Child smtui processes in the tests: an environment that can explain a hang, and a wait that
does.

A process that should stop on a signal gets a generous bound (machines under load are slow), and
if it is still running after it, SIGABRT makes Python's faulthandler print every thread's stack,
which the failure then shows: a hang reports where it hung instead of only that it timed out.
"""

from __future__ import annotations

import os
import signal
import subprocess


def default_signals() -> None:
    """In a child, before it runs: the signals a test sends act as they do on a program started
    from a terminal. A background job of a non-interactive shell (`make test &`) starts with
    SIGINT and SIGQUIT ignored, and its children inherit that: a Ctrl+C test would send a
    signal its child never sees. Pass as `preexec_fn`."""
    for name in ("SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def child_env(**extra: str) -> dict[str, str]:
    """Unbuffered output (lines arrive as printed) and faulthandler on."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", **extra}


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> tuple[str, str]:
    """(stdout, stderr) once `proc` has exited; a hang fails with its threads' stacks."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"still running {timeout:.0f} s after it was told to stop; its "
                             f"threads:\n{(err or '')[-6000:]}") from None
