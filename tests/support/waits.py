"""Waits on conditions, never fixed pauses: each asks its condition until it holds or its
deadline passes, and then fails saying what it waited for. `Deadline` is the one clock they
all read (a test that waits for a child process, a screen or an app uses these)."""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


class Deadline:
    """`timeout` seconds from now."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout

    def passed(self) -> bool:
        return time.monotonic() > self.end

    def fail(self, what: str | Callable[[], str]) -> AssertionError:
        """The failure of a wait for `what` (a callable: said as it is at the end)."""
        text = what() if callable(what) else f"{what} not reached in {self.timeout:g} s"
        return AssertionError(text)


def tries(timeout: float, what: str | Callable[[], str]) -> Iterator[None]:
    """One pass of a wait's loop after another until `timeout` has passed (at least one); then
    the wait fails, saying what it waited for."""
    deadline = Deadline(timeout)
    yield
    while not deadline.passed():
        yield
    raise deadline.fail(what)


def poll(check: Callable[[], T], timeout: float = 60.0, what: str | Callable[[], str] =
         "condition", every: float = 0.05) -> T:
    """The first true value of `check()`, asked every `every` seconds; fails after `timeout`."""
    for _ in tries(timeout, what):
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError("unreachable")   # `tries` raises when the time is up


async def poll_app(pilot, check: Callable[[], T], timeout: float = 30.0,
                   what: str | Callable[[], str] = "condition", every: float = 0.05) -> T:
    """`poll` for an app under Pilot: the app's loop runs while waiting."""
    for _ in tries(timeout, what):
        if value := check():
            return value
        await pilot.pause(every)
    raise AssertionError("unreachable")


def wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    """Until `predicate()` is true, checked every 50 ms; fails after `timeout` seconds."""
    poll(predicate, timeout, what)


async def wait_for(pilot, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """`wait_until` for an app under Pilot."""
    await poll_app(pilot, predicate, timeout, what)


async def settle(pilot, timeout: float = 20.0) -> None:
    """Until the app and its screen have handled every message posted to them before this call:
    whatever the keys pressed so far set off has happened, or fails after `timeout` seconds.
    What a test asserts did *not* happen is asserted after this, never after a fixed pause."""
    app = pilot.app
    for pump in (app, app.screen, app.focused or app.screen):
        done = asyncio.Event()
        pump.call_later(done.set)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{pump!r} did not handle its messages in {timeout:g} s")
    await pilot.pause()


def wait_exit(path, timeout: float = 10.0) -> str:
    """The `EXIT=<code>` line the session writes when smtui has exited."""
    return poll(lambda: path.exists() and path.read_text().strip(), timeout,
                lambda: "smtui did not exit in time")


def wait_for_epoch(proc, n: int = 1, timeout: float = 60) -> None:
    """Until a headless child has printed `n` epoch lines."""
    seen = 0

    def one_more() -> bool:
        nonlocal seen
        seen += proc.stdout.readline().startswith("epoch")
        return seen >= n
    poll(one_more, timeout, lambda: "no epoch line in time", every=0)
