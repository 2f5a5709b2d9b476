"""`smtui --no-ui`: the training loop for SSH sessions, tmux, batch jobs and CI.

On a terminal it draws a one-line progress bar on stderr; otherwise it prints one plain line per
epoch, so logs stay readable. Ctrl+C or SIGTERM stops at the next batch with a checkpoint, and the
exit code is 130 or 143 as shells expect.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import TextIO

from .config import TrainConfig
from .events import BatchEnd, Control, EpochEnd, Event, Message, RunEnded, RunStarted


def fmt_duration(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss past an hour."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class ConsoleReporter:
    """A listener that prints events: a live bar on a terminal, plain lines otherwise."""

    def __init__(self, epochs: int, out: TextIO | None = None, err: TextIO | None = None,
                 interactive: bool | None = None, width: int = 24) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interactive = self.err.isatty() if interactive is None else interactive
        self.epochs = epochs
        self.width = width
        self._last_draw = 0.0
        self._bar_shown = False
        self.last_epoch: EpochEnd | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            c = event.config
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
            self.line(f"smtui: {c['model']} model ({c['softmax']} softmax), {c['optimizer']} "
                       f"lr {c['lr']:g}, batch {c['batch_size']}, {c['epochs']} epochs on "
                       f"{event.device}{resumed}")
            self.line(f"smtui: data: {event.dataset} Fashion-MNIST ({event.num_train} train / "
                       f"{event.num_test} test) from {event.source}")
            if event.run_dir:
                self.line(f"smtui: run directory: {event.run_dir}")
        elif isinstance(event, BatchEnd):
            if self.interactive:
                self._draw_bar(event)
        elif isinstance(event, EpochEnd):
            self.last_epoch = event
            self.line(f"epoch {event.epoch:>{len(str(self.epochs))}}/{self.epochs}  "
                       f"train loss {event.train_loss:.4f}  train acc {event.train_acc:.4f}  "
                       f"test acc {event.test_acc:.4f}  {event.seconds:.2f}s")
        elif isinstance(event, Message):
            self.line(f"smtui: {event.level}: {event.text}", err=event.level != "info")
        elif isinstance(event, RunEnded):
            self.line(f"smtui: {event.message}" + (f" ({event.checkpoint})" if event.checkpoint
                                                     and event.status != "finished" else ""),
                       err=event.status not in ("finished", "stopped"))

    def _draw_bar(self, e: BatchEnd) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and e.batch != e.num_batches:
            return
        self._last_draw = now
        filled = int(self.width * e.batch / e.num_batches)
        remaining = (e.num_batches - e.batch) / e.num_batches
        eta = (e.examples / max(e.examples_per_s, 1e-9)) * remaining / max(1 - remaining, 1e-9)
        bar = "█" * filled + "░" * (self.width - filled)
        self.err.write(f"\r\x1b[2Kepoch {e.epoch}/{self.epochs} {bar} {e.batch}/{e.num_batches}"
                       f"  loss {e.loss:.4f}  acc {e.acc:.4f}  {e.examples_per_s:,.0f} img/s"
                       f"  ETA {fmt_duration(eta)}")
        self.err.flush()
        self._bar_shown = True

    def line(self, text: str, err: bool = False) -> None:
        if self._bar_shown:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._bar_shown = False
        stream = self.err if err else self.out
        stream.write(text + "\n")
        stream.flush()


def run_headless(config: TrainConfig, *, resume: str | None = None, check: bool = False,
                 samples: int = 6, tensorboard_dir: str | None = None) -> int:
    """Train without a UI; returns the process exit code."""
    from .analysis import analyse
    from .train import fit, predict_ch3, predict_probs, prepare, quality_check

    reporter = ConsoleReporter(config.epochs)
    listener = reporter
    if tensorboard_dir:
        from .tensorboard import TensorBoardListener
        board = TensorBoardListener(tensorboard_dir)

        def listener(event) -> None:
            reporter(event)
            board(event)
    session = prepare(config, resume=resume)
    control = Control()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)
        control.request_stop()
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ended = fit(session, listener, control)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        return 128 + received[0]
    if ended.status != "finished":
        return 1
    # The last epoch's evaluation already holds every test prediction; a resumed run that had
    # nothing left to train evaluates once.
    probs = reporter.last_epoch.test_probs if reporter.last_epoch else \
        predict_probs(session.model, session.test_iter, session.device)
    pairs = predict_ch3(probs, session.data.test_labels, samples)
    reporter.line("predictions on the first test images (true / predicted):")
    for i, (true, pred) in enumerate(pairs, 1):
        mark = "ok" if true == pred else "WRONG"
        reporter.line(f"  {i:>2}. {true:<11} / {pred:<11} {mark}")
    a = analyse(probs, session.data.test_labels)
    reporter.line("per-class accuracy: " + ", ".join(
        f"{name} {acc:.2f}" for name, acc in zip(a["classes"], a["per_class_accuracy"])))
    reject = next((r for r in a["reject_curve"] if r["threshold"] == 0.9), None)
    reporter.line(f"top-1 {a['top1']:.4f}, top-2 {a['top2']:.4f}, top-3 {a['top3']:.4f}; "
                  + (f"answering only at confidence >= 0.9: {reject['coverage']:.0%} of images "
                     f"at accuracy {reject['accuracy']:.4f}" if reject else ""))
    if check:
        last = session.history[-1] if session.history else None
        failures = quality_check(last["train_loss"], last["train_acc"], last["test_acc"]) \
            if last else ["no epoch was trained"]
        if failures:
            reporter.line("smtui: quality check failed: " + "; ".join(failures), err=True)
            return 3
        reporter.line("smtui: quality check passed (train loss < 0.5, train and test acc > 0.7)")
    return 0
