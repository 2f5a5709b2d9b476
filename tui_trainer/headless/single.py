"""`smtui --no-ui`: the training loop for SSH sessions, tmux, batch jobs and CI.

On a terminal it draws a one-line progress bar on stderr; otherwise it prints one plain line per
epoch, so logs stay readable. Every line also goes to the run directory's `log.txt`.

Ctrl+C, SIGTERM and SIGHUP (the SSH connection or the terminal is gone) stop at the next batch
with a checkpoint of that point, and the exit code is 130, 143 or 129 as shells expect. Output
that can no longer be written (a closed terminal, `| head -1`, a closed descriptor, a full
device) never stops training: the console goes quiet and the run directory stays the record.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from ..core.config import TrainConfig, is_model_file, model_label
from ..core.console import (STOP_SIGNALS, SafeStream, epoch_line, eta_seconds, fmt_duration,
                            next_steps, plural)
from ..core.events import BatchEnd, Control, EpochEnd, Event, Message, RunEnded, RunStarted
from ..core.suspend import SuspendClock
from ..store.rundir import RunDir


def describe_model(c: dict) -> str:
    """The model and updater of a config, in a start line: 'scratch model (stable softmax),
    sgd lr 0.1', or, for a learner's file, 'your net from my_model.py'."""
    if is_model_file(c["model"]):
        return f"your net from {model_label(c['model'])} (its updater, else sgd lr {c['lr']:g})"
    return f"{c['model']} model ({c['softmax']} softmax), {c['optimizer']} lr {c['lr']:g}"


def terminal_columns() -> int:
    """The terminal's width now (a window resized mid-run is followed); 80 when unknown."""
    return shutil.get_terminal_size((80, 24)).columns


def progress_line(e: BatchEnd, epochs: int, columns: int, bar_width: int = 24) -> str:
    """The progress bar's line, shorter than `columns`: a line that wraps cannot be redrawn
    (the erase reaches its last row only), so at 80 columns the 95-character line left a
    stale row at every redraw and the ETA was never seen. What goes first as room runs out:
    the bar's length (down to 8), then the pace, accuracy and loss, then the bar; the epoch,
    the batch and the ETA stay."""
    head, count = f"epoch {e.epoch}/{epochs}", f"{e.batch}/{e.num_batches}"
    eta = f"ETA {fmt_duration(eta_seconds(e, epochs))}"
    extras = [f"loss {e.loss:.4f}", f"acc {e.acc:.4f}", f"{e.examples_per_s:,.0f} img/s"]
    room = columns - 3   # the terminal echoes Ctrl+C as `^C` after it: that must not wrap

    def line(bar: int, shown: int) -> str:
        filled = int(bar * e.batch / e.num_batches)
        parts = [head] + (["█" * filled + "░" * (bar - filled)] if bar else []) + [count]
        return " ".join(parts) + "".join(f"  {x}" for x in extras[:shown]) + f"  {eta}"

    for shown in range(len(extras), -1, -1):
        for bar in (bar_width, 16, 8):
            if len(line(bar, shown)) <= room:
                return line(bar, shown)
    return line(0, 0)[:max(room, 1)]


class ConsoleReporter:
    """A listener that prints events: a live bar on a terminal, plain lines otherwise."""

    def __init__(self, epochs: int, out: TextIO | None = None, err: TextIO | None = None,
                 interactive: bool | None = None, width: int = 24) -> None:
        self.out = SafeStream(out or sys.stdout)
        self.err = SafeStream(err or sys.stderr)
        self.logs: list[SafeStream] = []   # the run directory's log.txt, once it is known
        # A dumb terminal (TERM=dumb: an editor's shell, some CI consoles) gets plain lines:
        # it cannot erase a line, so a redrawn bar would pile up as junk.
        self.interactive = (self.err.isatty() and os.environ.get("TERM") != "dumb") \
            if interactive is None else interactive
        self.epochs = epochs
        self.width = width
        self._last_draw = 0.0
        self._bar_shown = False
        self.last_epoch: EpochEnd | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            c = event.config
            resumed = f", resuming {event.resumed_at()}" if event.resumed_at() else ""
            threads = f", {event.threads}" if event.threads else ""
            self.line(
                f"smtui: {describe_model(c)}, batch {c['batch_size']}, "
                f"{plural(c['epochs'], 'epoch')} on {event.device}{threads}{resumed}"
            )
            self.line(f"smtui: data: {event.dataset} Fashion-MNIST ({event.num_train} train / "
                       f"{event.num_test} test) from {event.source}")
            if event.run_dir:
                self.open_log(RunDir(event.run_dir).log_path)
                self.line(f"smtui: run directory: {event.run_dir}")
        elif isinstance(event, BatchEnd):
            if self.interactive:
                self._draw_bar(event)
        elif isinstance(event, EpochEnd):
            self.last_epoch = event
            self.line(epoch_line(event.metrics(), self.epochs))
        elif isinstance(event, Message):
            self.line(f"smtui: {event.level}: {event.text}", err=event.level != "info")
        elif isinstance(event, RunEnded):
            self.line(f"smtui: {event.message}" + (f" ({event.checkpoint})" if event.checkpoint
                                                     and event.status != "finished" else ""),
                       err=event.status not in ("finished", "stopped"))
            if event.checkpoint:
                for text in next_steps(str(Path(event.checkpoint).parent), event.status):
                    self.line(text)

    def open_log(self, path: Path) -> None:
        """Copy every later line to `path` (appended: a resumed run's log goes on)."""
        from ..core.errors import SmtuiError
        from ..store.files import open_no_follow
        try:
            fd = open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            # A path's undecodable bytes are escaped, not a reason to silence the log.
            self.logs.append(SafeStream(os.fdopen(fd, "a", encoding="utf-8",
                                                  errors="backslashreplace")))
        except SmtuiError as exc:   # a planted link: not written through, and said
            self.err.write(f"smtui: warning: {exc}; the log is not kept there\n")
        except OSError:
            pass   # the run's own files will report an unwritable folder

    def close(self) -> None:
        """Close the log files."""
        for log in self.logs:
            if not log.dead:
                try:
                    if log.stream is not None:
                        log.stream.close()
                except OSError:
                    pass
        self.logs = []

    def _draw_bar(self, e: BatchEnd) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and e.batch != e.num_batches:
            return
        self._last_draw = now
        self.err.write("\r\x1b[2K" + progress_line(e, self.epochs, terminal_columns(),
                                                     self.width))
        self._bar_shown = True

    def line(self, text: str, err: bool = False) -> None:
        if self._bar_shown:
            self.err.write("\r\x1b[2K")
            self._bar_shown = False
        (self.err if err else self.out).write(text + "\n")
        for log in self.logs:
            log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")


class StopOnSignals:
    """While active, Ctrl+C, SIGTERM and SIGHUP ask `control` to stop (a checkpoint is written at
    the next batch); `code()` is then 128 + the first signal's number, as shells expect.

    Installed before the data is read: a signal during set-up stops at the first batch. A signal
    ignored when smtui started stays ignored: `nohup smtui --no-ui` trains on after the terminal
    closes, as nohup promises.
    """

    def __init__(self, control: Control) -> None:
        self.control = control
        self.received: list[int] = []
        self.previous: dict = {}

    def __enter__(self) -> StopOnSignals:
        self.previous = {s: signal.signal(s, self.on_signal) for s in STOP_SIGNALS
                         if signal.getsignal(s) != signal.SIG_IGN}
        # ctrl+z's stop, until fg: not training time (suspend.py)
        self.suspended = SuspendClock(lambda: self.control).install()
        return self

    def __exit__(self, *exc) -> None:
        self.suspended.uninstall()
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def on_signal(self, signum, _frame) -> None:
        # A second Ctrl+C or SIGTERM ends the process at once; further hang-ups are ignored (the
        # terminal is gone, and the checkpoint being written must not be cut short). Swapped
        # first: a second signal must never run this handler inside the first one's
        # `request_stop`, whose locks it would wait for forever.
        signal.signal(signum, signal.SIG_IGN if signum == getattr(signal, "SIGHUP", None)
                      else signal.SIG_DFL)
        self.received.append(signum)
        self.control.request_stop(STOP_SIGNALS.get(signum))

    def code(self) -> int | None:
        """The exit code a signal asks for, or None when none came."""
        return 128 + self.received[0] if self.received else None


def with_tensorboard(config: TrainConfig, reporter):
    """The listener: the reporter, and TensorBoard too when asked for."""
    if not config.tensorboard:
        return reporter
    from ..store.tensorboard import TensorBoardListener
    board = TensorBoardListener(config.tensorboard, say=reporter)

    def listener(event) -> None:
        reporter(event)
        board(event)
    return listener


def run_headless(config: TrainConfig, *, resume: str | None = None, check: bool = False,
                 samples: int = 6) -> int:
    """Train without a UI; returns the process exit code."""
    from ..loop.train import fit, prepare

    reporter = ConsoleReporter(config.epochs)
    listener = with_tensorboard(config, reporter)
    control = Control()
    try:
        with StopOnSignals(control) as signals:
            session = prepare(config, resume=resume)
            ended = fit(session, listener, control)
        code = signals.code()
        if code is not None:
            return code
        if ended.status != "finished":
            return 1
        return _report(session, reporter, check, samples)
    finally:
        reporter.close()


def _report(session, reporter: ConsoleReporter, check: bool, samples: int) -> int:
    """What a finished headless run prints after its last epoch; returns the exit code."""
    from ..labs.analysis import analyse
    from ..core.metrics import predict_ch3, predict_probs, quality_check

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
    if reject is None:
        rule = ""
    elif reject["accuracy"] is None:
        rule = "; no test image reaches confidence 0.9"
    else:
        rule = (f"; answering only at confidence >= 0.9: {reject['coverage']:.0%} of images "
                f"at accuracy {reject['accuracy']:.4f}")
    reporter.line(f"top-1 {a['top1']:.4f}, top-2 {a['top2']:.4f}, top-3 {a['top3']:.4f}" + rule)
    if check:
        last = session.history[-1] if session.history else None
        failures = quality_check(last["train_loss"], last["train_acc"], last["test_acc"]) \
            if last else ["no epoch was trained"]
        if failures:
            reporter.line("smtui: quality check failed: " + "; ".join(failures), err=True)
            return 3
        reporter.line("smtui: quality check passed (train loss < 0.5, train and test acc > 0.7)")
    return 0
