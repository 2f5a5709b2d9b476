"""A run's life between batches, written once for every loop.

Each loop supplies its batch arithmetic and its record as a `Loop`: `train.SingleLoop` (smtui's
models, a learner's `--model` file, the drop-in `d2l.train_ch3`) and `sweep.SweepLoop` (K stacked
models). `run_loop` does everything else, in the same order for every loop:

- before the first batch: the thread plan and its governor, `RunStarted`, status `running`;
- between batches: a pause (a checkpoint asked for meanwhile is written at once), a stop, a
  checkpoint on request, the finite-loss check (one read-back every `check_every` batches, and
  always before a checkpoint, so no checkpoint holds weights whose loss was not checked),
  progress reports (`BatchEnd`, status.json) and the governor's tick;
- after each epoch: the test set's predictions and the loop's record of the epoch;
- at the end, exactly one of: finished, stopped (a checkpoint of that exact batch), diverged
  (the last good checkpoint kept) or failed (recorded, then raised); then the loop releases its
  run directories and the listener hears `RunEnded`.

Losses stay on the device until a check reads them back: on a GPU an epoch synchronises a few
times, not once a batch.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Callable

import torch

from ..core.events import BatchEnd, Control, Event, Listener, Message, RunEnded, Stopped
from .device import reporting_intervals
from .lifecycle import announce, stop_point
from .meter import ProcessMeter
from ..core.metrics import predict_probs
from .thread_probe import thread_plan
from ..store.rundir import RunDir


class NonFiniteLoss(Exception):
    """Raised at the batch whose loss is inf or nan."""

    def __init__(self, batch: int, value: float) -> None:
        super().__init__(f"loss became {value} at batch {batch}")
        self.batch, self.value = batch, value


def training_clock(control: Control) -> Callable[[], float]:
    """A clock from now: seconds spent training, the time waited in pauses left out (an epoch's
    `seconds` and the pace say how long training took, not how long the user paused)."""
    start, paused = time.perf_counter(), control.paused_seconds

    def trained() -> float:
        return time.perf_counter() - start - (control.paused_seconds - paused)
    return trained


def read_back(losses: list[torch.Tensor]) -> list[list[float]]:
    """The pending batches' loss sums as numbers, in one host-device synchronisation: a row per
    batch, a value per model (one for a single run, K for a sweep)."""
    values = torch.stack(losses).tolist() if len(losses) > 1 else [losses[0].tolist()]
    return [row if isinstance(row, list) else [row] for row in values]


class Loop:
    """What a loop supplies to `run_loop`: its batch arithmetic and its record.

    `session` holds what every loop has: config, device, data, train_iter, test_iter, and the
    run's position: `epoch` (completed), `batch` (done in the current epoch), `partial_seconds`
    (training time of that epoch before an interruption).
    """

    session: Any
    run: RunDir | None = None           # the directory RunStarted names
    run_dirs: list[str]                 # a sweep's: one per model
    eval_model: Any = None              # what the test set's predictions are made with

    def probe(self) -> Callable[[], None]:
        """One step's work on a copy of the model, for the thread governor to time."""
        raise NotImplementedError

    def prefer_fewer(self, control: Control) -> bool:
        """Whether the governor keeps one thread unless more train faster."""
        return False

    def alive(self) -> bool:
        """Whether any model still trains (a sweep's diverge one by one)."""
        return True

    def begin(self) -> None:
        """Before the first batch: the run directories say `running`."""

    def begin_epoch(self) -> tuple[int, int]:
        """(batches already done, examples already done) of the epoch about to run: non-zero
        when it resumes an interrupted one, whose shuffle the loop replays."""
        raise NotImplementedError

    def step(self, X: torch.Tensor, y: torch.Tensor, index: int) -> torch.Tensor | None:
        """Train on batch `index` (0-based) of the epoch; returns its loss sum on the device (a
        0-d tensor, or one per model), or None where `settle` computes it later."""
        raise NotImplementedError

    def chunks(self, start: int, every: int, say: Callable[[str], None]):
        """None, or the epoch from batch index `start` as (first, last, train) chunks of at
        most `every` batches (replay.py): `train()` trains batches first..last (numbered from
        1); `say` tells the user something once (a capture that failed)."""
        return None

    def settle(self, losses: list[torch.Tensor | None]) -> list[list[float]]:
        """The pending batches' loss sums as numbers (a row per batch, a value per model), in
        one read-back; the epoch's running figures now count them. A loop whose steps return
        None computes its sums itself and overrides this."""
        return read_back([loss for loss in losses if loss is not None])

    def non_finite(self, batch: int, k: int, value: float) -> None:
        """Model k's loss became `value` at `batch`: a single run ends (NonFiniteLoss)."""
        raise NonFiniteLoss(batch, value)

    def running(self) -> tuple[int, float, float]:
        """(examples, loss, accuracy) of the epoch so far, over the models still training."""
        raise NotImplementedError

    def report(self, event: BatchEnd) -> None:
        """Record progress inside an epoch (status.json, at most once a second)."""

    def beat(self) -> None:
        """While paused: say in the record, now and then, that the run is alive (paused)."""

    def save(self, seconds: float) -> str:
        """Write a checkpoint of this exact batch; returns what to tell the user."""
        raise NotImplementedError

    def end_epoch(self, probs: torch.Tensor, seconds: float,
                  machine: dict[str, float]) -> Event:
        """Record the epoch just evaluated; returns the event that reports it."""
        raise NotImplementedError

    def finished(self) -> RunEnded:
        raise NotImplementedError

    def stopped(self, where: str) -> RunEnded:
        """Stopped on request: checkpoints of this exact point."""
        raise NotImplementedError

    def diverged(self, exc: NonFiniteLoss) -> RunEnded:
        raise NotImplementedError

    def fail(self, exc: BaseException) -> BaseException:
        """Record a failure in the run directories and release them; returns what to raise."""
        raise NotImplementedError

    def close(self, ended: RunEnded, reason: str | None) -> None:
        """The run directories' last status; then release them."""
        raise NotImplementedError


class _Between:
    """The run loop's work between two batches of one epoch: checks, checkpoints, reports."""

    def __init__(self, loop: Loop, listener: Listener, control: Control, epoch: int,
                 clock: Callable[[], float], done_before: int, threads, governor) -> None:
        self.loop, self.listener, self.control = loop, listener, control
        self.epoch, self.clock, self.done_before = epoch, clock, done_before
        self.threads, self.governor = threads, governor
        self.num_batches = len(loop.session.train_iter)
        self.check_every, self.report_every = reporting_intervals(
            self.num_batches, loop.session.device.type)
        self.pending: list[tuple[int, torch.Tensor | None]] = []

    def check(self) -> None:
        """Read the pending losses back (one synchronisation); hand each non-finite value of a
        model still training to the loop."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        for (batch, _), row in zip(pending, self.loop.settle([l for _, l in pending])):
            for k, value in enumerate(row):
                if not math.isfinite(value):
                    self.loop.non_finite(batch, k, value)

    def after(self, batch: int, losses: torch.Tensor | None, first: int | None = None) -> None:
        """After batch `batch` (after the chunk `first`..`batch`): check when due, write a
        checkpoint when asked, report when due."""
        self.loop.session.batch = batch
        self.pending += [(b, None) for b in range(first, batch)] if first is not None else []
        self.pending.append((batch, losses))
        last = batch == self.num_batches
        report = last or batch % self.report_every == 0
        if len(self.pending) >= self.check_every or report:   # a report shows checked losses
            self.check()
        if not self.loop.alive():
            return
        self.save_if_asked()
        if report:
            self.report(batch)

    def save_if_asked(self) -> None:
        """A checkpoint the user asked for (a key, the palette), after the losses it holds are
        checked."""
        if not self.control.save.is_set():
            return
        self.control.save.clear()
        self.check()
        session = self.loop.session
        self.listener(Message(self.loop.save(session.partial_seconds + self.clock())))

    def report(self, batch: int) -> None:
        """A progress report: BatchEnd to the listener, the loop's record."""
        if self.governor is not None:
            self.governor.tick((self.epoch - 1) * self.num_batches + batch)
        elapsed = self.clock()
        examples, loss, acc = self.loop.running()
        threads = self.governor.threads if self.governor else self.threads
        event = BatchEnd(self.epoch, batch, self.num_batches, int(examples),
                         (examples - self.done_before) / elapsed if elapsed > 0 else 0.0,
                         loss, acc, threads)
        self.loop.report(event)
        self.listener(event)

    def before(self, batch: int) -> None:
        """Before batch `batch`: report up to the last batch done before a pause, wait out the
        pause, and stop when asked (the losses checked first)."""
        if self.control.paused and batch > 1:   # even right after a report: the UI may
            self.check()                          # have skipped that one (it posts 4 a second)
            self.report(batch - 1)
        if self.control.should_stop():
            self.check()
            if batch > 1:   # the progress shown ends where the run stopped
                self.report(batch - 1)
            raise Stopped


def _epoch(loop: Loop, listener: Listener, control: Control, threads: int, governor,
           meter: ProcessMeter, clock_box: list) -> None:
    """One epoch: its batches through `loop.step`, then the test set's predictions."""
    session = loop.session
    epoch = session.epoch + 1
    start, done_before = loop.begin_epoch()
    clock = clock_box[0] = training_clock(control)
    between = _Between(loop, listener, control, epoch, clock, done_before, threads, governor)
    def while_paused() -> None:   # a checkpoint asked for while paused: at once
        between.save_if_asked()
        loop.beat()
    control.while_paused = while_paused
    chunks = loop.chunks(start, between.check_every,
                         lambda text: listener(Message(text, "warning")))
    if chunks is not None:
        for first, last, train in chunks:
            between.before(first)
            train()
            between.after(last, None, first)
            if not loop.alive():
                return
    else:
        batches = itertools.islice(iter(session.train_iter), start, None)
        for batch, (X, y) in enumerate(batches, start=start + 1):
            between.before(batch)
            X = X.to(session.device, non_blocking=True)
            y = y.to(session.device, non_blocking=True)
            between.after(batch, loop.step(X, y, batch - 1))
            if not loop.alive():
                return
    between.check()
    trained = clock()
    probs = predict_probs(loop.eval_model, session.test_iter, session.device, control)
    evaluated = clock()
    seconds = session.partial_seconds + evaluated
    # The test set's share of the epoch, beside the machine's figures in metrics.jsonl: the
    # book's examples/sec (train_ch6) count the training batches' time only. Read at the same
    # instant as `seconds`: read after the machine's figures, it could exceed a tiny epoch.
    figures = {**meter.sample(), "eval_seconds": round(evaluated - trained, 4)}
    listener(loop.end_epoch(probs, seconds, figures))


def run_loop(loop: Loop, listener: Listener, control: Control | None = None) -> RunEnded:
    """Train `loop` for the remaining epochs of its config, reporting events to `listener`.

    Returns the final `RunEnded` (also sent to the listener). A stop request ends the run at
    the next batch with a checkpoint of that exact point; a non-finite loss ends it (a sweep's
    model alone) without overwriting the last good checkpoint; an exception is recorded in the
    run directories, which are released, and raised (the user's own error where it is one).
    """
    control = control or Control()
    session = loop.session
    cfg = session.config
    try:   # the thread probe allocates: inside what records how the run ended
        plan, governor = thread_plan(cfg, session.device, loop.probe,
                                     loop.prefer_fewer(control))
        if governor is not None:
            governor.start()
        announce(listener, config=cfg.to_dict(), device=session.device, data=session.data,
                 start_epoch=session.epoch, run=loop.run,
                 threads=plan.describe() if plan else "", run_dirs=loop.run_dirs,
                 start_batch=session.batch)
        for text in getattr(loop.eval_model, "warnings", ()):   # a learner's weight never trains
            listener(Message(text, "warning"))
    except BaseException as exc:
        raise loop.fail(exc) from None
    meter = ProcessMeter()   # the process's CPU and memory over each epoch, for metrics.jsonl
    clock_box: list = [lambda: 0.0]   # the current epoch's training clock
    ended: RunEnded
    try:
        loop.begin()
        while session.epoch < cfg.epochs and loop.alive():
            _epoch(loop, listener, control, plan.threads if plan else 0, governor, meter,
                   clock_box)
        ended = loop.finished()
    except Stopped:
        session.partial_seconds += clock_box[0]()
        ended = loop.stopped(stop_point(session.epoch, session.batch))
    except NonFiniteLoss as exc:
        ended = loop.diverged(exc)
    except BaseException as exc:   # an error, or an interrupt nobody turned into a stop request
        raise loop.fail(exc) from None
    finally:
        control.while_paused = None
    loop.close(ended, control.reason)
    listener(ended)
    return ended
