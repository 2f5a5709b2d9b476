"""ctrl+z: stopping smtui so that the shell's `fg` brings it back, and the time it takes.

In the app the terminal is in raw mode, so ctrl+z reaches smtui as a key rather than the
terminal's driver. Stopping only smtui's own process (what Textual does) freezes the terminal
when something other than an interactive shell waits for it: `make tui` or `bash -c 'smtui; ...'`
go on waiting for a child that will never continue. smtui stops its whole process group instead,
as the terminal's own ctrl+z would (`stop_job`), so make and bash -c stop with it and the shell
takes the terminal back. Where no shell with job control started smtui (tmux's or a service's
own command), nothing could continue it, and `job_control()` says so before the app refuses.

A process stopped by ctrl+z (SIGTSTP) until `fg` continues it (SIGCONT) trains nothing
meanwhile: `SuspendClock` adds that time to the run's `Control.paused_seconds`, so it is left out
of the epoch's seconds and the pace, as a pause's is. It chains whatever handled the two signals
before (Textual's driver restores the terminal with them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any, Callable, ContextManager


def job_control() -> bool:
    """Whether a shell with job control started this process: such a shell puts each job in a
    process group of its own, so the group is not the session's (the shell's)."""
    try:
        return os.getpgrp() != os.getsid(0)
    except OSError:
        return False


def stop_job(clock: SuspendClock | None = None,
             give_back: Callable[[], ContextManager[Any]] = contextlib.nullcontext) -> None:
    """Stop this process's whole group (smtui, and make or bash -c around it), as the
    terminal's ctrl+z does, and return once the shell's `fg` has continued it.

    `give_back()` hands the terminal back around the stop (and takes it again after): done
    first, since once the shell has the terminal a stopped-to-be process could not (restoring
    it from the background stops it at once, SIGTTOU). SIGTSTP is this process's to ignore
    from before the terminal is given back until it is taken again: the terminal, back in its
    own mode, turns a second ctrl+z into a SIGTSTP, which stopped smtui there; `fg` then
    continued it into this stop, and it stopped again at once (exit 147 in the shell)."""
    before = signal.signal(signal.SIGTSTP, signal.SIG_IGN)   # the others', not this one's
    try:
        with give_back():
            if clock is not None:
                clock.stopped_at = time.perf_counter()
            os.killpg(os.getpgrp(), signal.SIGTSTP)
            os.kill(os.getpid(), signal.SIGSTOP)   # here, at once, until SIGCONT
    finally:
        signal.signal(signal.SIGTSTP, before)


class SuspendClock:
    """While installed, the time between SIGTSTP and SIGCONT is added to the paused seconds of
    `control()` (the run going on, if any)."""

    def __init__(self, control: Callable[[], Any]) -> None:
        self.control = control
        self.stopped_at: float | None = None
        self.previous: dict[int, Any] = {}

    def install(self) -> SuspendClock:
        """Put the handlers in place (the main thread only, as signals allow)."""
        for signum, handler in ((signal.SIGTSTP, self.on_stop), (signal.SIGCONT, self.on_cont)):
            if signal.getsignal(signum) != signal.SIG_IGN:
                self.previous[signum] = signal.signal(signum, handler)
        return self

    def uninstall(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    __enter__ = install

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    def on_stop(self, signum: int, frame: Any) -> None:
        """Note when the stop began, then stop as the handler before would have."""
        self.stopped_at = time.perf_counter()
        before = self.previous.get(signum)
        if callable(before):
            before(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)   # the default action: stop, here, at once
        os.kill(os.getpid(), signum)
        signal.signal(signum, self.on_stop)

    def on_cont(self, signum: int, frame: Any) -> None:
        """Continued: the time stopped is not training time. The handler before (Textual's
        driver, which gives the terminal back to the app) runs only after a stop this clock saw
        (ctrl+z, SIGTSTP): a bare `kill -STOP` never took the terminal, and restarting the
        app's terminal mode then started another key reader each time (four after three),
        which q could no longer end."""
        if self.stopped_at is None:
            return
        control = self.control()
        if control is not None:
            control.paused_seconds += time.perf_counter() - self.stopped_at
        self.stopped_at = None
        before = self.previous.get(signum)
        if callable(before):
            before(signum, frame)
