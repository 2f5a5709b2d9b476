"""Events the training loop reports, and the controls it honours.

The loops (`train.fit`, `sweep.fit_sweep`) draw nothing: they call a listener with these
dataclasses (RunStarted, BatchEnd, EpochEnd or SweepEpoch, Message, RunEnded; the viewer's
watcher adds CheckpointPredictions). The headless mode turns them into lines and a progress bar;
a script's `d2l.train_ch3` into a line per epoch; the TUI into Textual messages. Plain threading
events carry stop and pause requests the other way, so the loop works with any driver.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class RunStarted:
    """A run is set up: data read, model built, about to train."""

    config: dict[str, Any]
    device: str
    dataset: str          # "full" or "subset"
    source: str           # folder the data came from
    num_train: int
    num_test: int
    start_epoch: int      # completed epochs (non-zero when resuming)
    run_dir: str | None
    test_images: Any      # uint8 (N, 28, 28) CPU tensor, for drawing predictions
    test_labels: Any      # int64 (N,) CPU tensor
    threads: str = ""     # on the CPU: the thread plan, e.g. "2 threads (auto)"
    run_dirs: list[str] = field(default_factory=list)   # a sweep's: one per learning rate
    start_batch: int = 0  # batches done of the epoch after start_epoch (a resume mid-epoch)

    def resumed_at(self) -> str:
        """Where a resumed run goes on, in words ("" for a run from its start): after an
        epoch, or inside one (stopped at batch 18600 of its first epoch, it is resumed)."""
        if self.start_batch:
            return f"in epoch {self.start_epoch + 1}, after batch {self.start_batch}"
        return f"after epoch {self.start_epoch}" if self.start_epoch else ""


@dataclass
class BatchEnd:
    """Progress inside an epoch. `loss` and `acc` are running averages over the epoch so far."""

    epoch: int            # 1-based epoch being trained
    batch: int            # batches done in this epoch
    num_batches: int
    examples: int         # examples done in this epoch
    examples_per_s: float
    loss: float
    acc: float
    threads: int = 0      # CPU threads in use now (0: not on the CPU)


@dataclass
class EpochEnd:
    """An epoch is done and evaluated: the book's three curves plus timing."""

    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    seconds: float
    lr: float | None   # None: a learner's own updater function, whose rate smtui cannot see
    test_probs: Any = field(repr=False)  # float32 (N, 10) CPU tensor: every test prediction
    templates: Any = field(default=None, repr=False)   # (W (10, D), b (10,)) of a linear model
    machine: dict = field(default_factory=dict)   # the process's CPU, memory (GPU) over the epoch

    def metrics(self) -> dict[str, float]:
        """The row written to metrics.jsonl and metrics.csv (the machine's figures to the
        first only)."""
        return {"epoch": self.epoch, "train_loss": self.train_loss, "train_acc": self.train_acc,
                "test_acc": self.test_acc, "seconds": round(self.seconds, 4), "lr": self.lr,
                **self.machine}


@dataclass
class SweepEpoch:
    """An epoch of a learning-rate sweep is done: one metrics row per model (`EpochEnd.metrics`
    of its own run; None for a model that has stopped), and the best model's test
    predictions and class templates, for the views that show one model."""

    epoch: int
    seconds: float
    lrs: list[float]
    rows: list[dict[str, float] | None]
    best: int             # index of the best test accuracy this epoch
    test_probs: Any = field(repr=False)
    templates: Any = field(default=None, repr=False)


@dataclass
class Message:
    """Something to tell the user (data source, fallbacks, warnings)."""

    text: str
    level: str = "info"   # info, warning, error


@dataclass
class RunEnded:
    """The run is over. `status` is finished, stopped, diverged or failed; a watched run's may
    also be stalled or paused, which its next progress ends."""

    status: str
    epoch: int
    message: str = ""
    checkpoint: str | None = None
    run_dirs: list[str] = field(default_factory=list)   # a sweep's, those with a checkpoint


Event = RunStarted | BatchEnd | EpochEnd | SweepEpoch | Message | RunEnded
Listener = Callable[[Event], None]


PAUSE_POLL_S = 0.1   # how often a paused loop looks for a resume, a stop or a checkpoint


class Stopped(Exception):
    """Raised between batches, in whatever loop honours a `Control`, when a stop was asked."""


class Control:
    """Stop and pause requests from a driver (a key press, a signal) to the training loop."""

    def __init__(self, beside_ui: bool = False) -> None:
        # The app's own thread draws while the loop trains: of thread counts that train alike,
        # a learner's net keeps the fewer (train.fit, cpu.ThreadGovernor's `prefer`).
        self.beside_ui = beside_ui
        self.stop = threading.Event()
        self.resume = threading.Event()   # set = running, clear = paused
        self.resume.set()
        self.save = threading.Event()     # set = write a checkpoint at the next batch
        self.reason: str | None = None    # why a stop was requested, when not by the user's key
        self.finished = threading.Event() # set by the driver once the loop has returned
        self.while_paused: Callable[[], None] | None = None   # the loop's work during a pause
        self.paused_seconds = 0.0         # time spent waiting in pauses, so far

    def request_save(self) -> None:
        """Ask the loop to write a checkpoint at the next batch it reports."""
        self.save.set()

    def request_stop(self, reason: str | None = None) -> None:
        """Ask the loop to stop at the next batch; also releases a pause. `reason` (a signal,
        say) is recorded in the run's status."""
        if reason and not self.stop.is_set():
            self.reason = reason
        self.stop.set()
        self.resume.set()

    def pause(self) -> None:
        """Ask the loop to wait before its next batch."""
        self.resume.clear()

    def unpause(self) -> None:
        """Let a paused loop go on."""
        self.resume.set()

    @property
    def paused(self) -> bool:
        """True while a pause is requested."""
        return not self.resume.is_set()

    def should_stop(self) -> bool:
        """Called by the loop between batches: waits while paused; True when it must stop.

        It takes no lock: headless, a stop signal's handler calls `request_stop` in this same
        thread, between any two bytecodes, and would wait forever for a lock held here (an
        Event's `wait` holds its own). So a pause is waited out by polling `is_set`, which reads
        a flag, not by `wait`.
        """
        while not self.resume.is_set() and not self.stop.is_set():
            started = time.perf_counter()
            if self.while_paused is not None:
                self.while_paused()
            time.sleep(PAUSE_POLL_S)
            self.paused_seconds += time.perf_counter() - started
        return self.stop.is_set()
