"""Driving the core's training loop from the app: the worker thread and the events it posts.

A mixin of `SmtuiApp`, kept apart so the app module holds the layout and the keys. The worker runs
`train.prepare` and `train.fit` (or a sweep, or a script's session) in a thread and posts each
event as a `TrainingEvent` (progress at most four times a second); `EVENT_HANDLERS` names the
method that applies each kind on the UI thread. It relies on the app's `curves`, `predictions`,
`analysis`, `status_bar`, `form` and its `state` (run_state.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import work

from ..core.config import TrainConfig
from ..core.events import BatchEnd, Control, EpochEnd, Message, RunEnded, RunStarted, SweepEpoch
from ..store.watch import CheckpointPredictions
from ..core.console import eta_seconds, inert
from .messages import TrainingEvent, TrainingFailed
from .run_state import RESETTING
from .panels.runs import RunRecord
from .threads import parallel_here, serial_here

PROGRESS_POST_S = 0.25  # the worker posts progress at most four times a second


class TrainingMixin:
    """The training worker, its event handlers, and the end of a run."""

    @work(thread=True, exit_on_error=False, group="train")
    def train(self, config: TrainConfig, resume: str | None, control: Control,
              lrs: list[float] | None = None, session=None) -> None:
        """The worker: prepare and fit (a sweep of `lrs` when given; a script's `session` as it
        was prepared), posting every event to the UI."""
        from ..core.errors import SmtuiError
        from ..loop.sweep import fit_sweep, prepare_sweep
        from ..loop.train import fit, prepare

        last_post = 0.0
        board = None

        def listener(event) -> None:
            nonlocal last_post
            if board is not None:
                board(event)
            if isinstance(event, BatchEnd):
                now = time.monotonic()
                # Throttled, but never the point where the run pauses or stops: the bar
                # shows it, exactly, while it waits.
                if now - last_post < PROGRESS_POST_S and event.batch != event.num_batches \
                        and not control.paused and not control.stop.is_set():
                    return
                last_post = now
            self.post_message(TrainingEvent(event))

        # A stop requested while the data loads is honoured by `fit` at its first batch: the
        # run directory then says "stopped before the first batch", never "running".
        try:
            parallel_here()
            if config.tensorboard:
                from ..store.tensorboard import TensorBoardListener
                board = TensorBoardListener(config.tensorboard, say=lambda e: self.post_message(
                    TrainingEvent(e)))
            if lrs:
                fit_sweep(prepare_sweep(config, lrs), listener, control)
            elif session is not None:
                self.state.ended = fit(session, listener, control)
            else:
                fit(prepare(config, resume=resume), listener, control)
        except Exception as exc:  # shown in the UI; the app keeps running
            if session is not None:
                self.state.error = exc   # the learner's script raises it after the window
            self.post_message(TrainingFailed(str(exc) if isinstance(exc, SmtuiError)
                                             else f"{type(exc).__name__}: {exc}"))
        finally:
            control.finished.set()

    def on_training_event(self, message: TrainingEvent) -> None:
        """Each of the loop's events goes to its handler below (`EVENT_HANDLERS`, by type)."""
        serial_here()   # events carry tensors: the UI thread's work on them stays serial
        event = message.event
        if self.state.phase == RESETTING and not isinstance(event, RunEnded):
            return   # the run being reset still reports until it has stopped
        EVENT_HANDLERS[type(event)](self, event)

    def on_run_started(self, event: RunStarted) -> None:
        """A run is set up: data, run directory, threads."""
        self.state.run_dir = event.run_dir
        self.state.sweep_dirs = event.run_dirs
        if self.state.current is not None and event.run_dir:
            self.state.current.name = Path(event.run_dir).name
            self.state.current.path = event.run_dir   # the Runs tab can resume it
        self.mode.run_started(self, event)
        self.status_bar.device, self.status_bar.dataset, self.status_bar.state = event.device, event.dataset, "training"
        self.state.test_labels = event.test_labels
        for panel in self.prediction_panels:
            panel.set_data(event.test_images, event.test_labels)
        self.log_message(f"Data: {event.dataset} Fashion-MNIST ({event.num_train} train / "
                         f"{event.num_test} test) from {event.source}")
        if self.state.sweep is not None and event.run_dir:
            self.log_message(f"Run directories: one per learning rate in "
                             f"{Path(event.run_dir).parent}, named like "
                             f"{Path(event.run_dir).name}")
        else:
            self.log_message(f"Run directory: {event.run_dir}")
        if event.threads:
            self.log_message(f"CPU threads: {event.threads}; the status bar shows those in "
                             "use (×N), fewer while other processes share the CPU")

    def show_watched_run(self, event: RunStarted) -> None:
        """`smtui view`: what the app shows of a run comes from the run's files, its settings
        (the Train view, the Setup tab, read-only) and its row in the Runs tab included."""
        self.config, _ = TrainConfig.from_saved(event.config)
        self.form.set_values(self.config)
        self.state.epochs = self.config.epochs
        self.state.num_train = event.num_train
        self.curves.reset(self.state.epochs)
        self.state.current = RunRecord(inert(Path(event.run_dir).name), event.config,
                                       status="running")
        self.comparison.records = [self.state.current]
        self.refresh_runs()

    def on_batch_end(self, event: BatchEnd) -> None:
        """Progress inside an epoch: the running curves and the status bar."""
        if self.state.sweep is None:   # a sweep's progress is the mean of its models: not drawn
            x = event.epoch - 1 + event.batch / event.num_batches
            self.curves.add("train loss", x, event.loss)
            self.curves.add("train acc", x, event.acc)
        self.status_bar.progress(event.epoch, self.state.epochs, event.batch, event.num_batches,
                                 event.examples_per_s, eta_seconds(event, self.state.epochs)
                                 if event.examples_per_s > 0 else None)   # 0: pace unknown
        self.status_bar.threads = event.threads
        if self.status_bar.state == "stalled":   # a watched run that moves again
            self.status_bar.state = "training"
            if self.state.current is not None:
                self.state.current.status = "running"

    def on_epoch_end(self, event: EpochEnd) -> None:
        """An epoch is done: its test accuracy, predictions and log line."""
        self.curves.add("test acc", event.epoch, event.test_acc)
        self.mode.epoch_ended(self, event)
        if self.state.current is not None:
            self.state.current.epochs.append(event.epoch)
            self.state.current.test_acc.append(event.test_acc)
            self.state.current.train_loss.append(event.train_loss)
        if event.test_probs is not None:
            self.pending_probs = event.test_probs
            self.pending_templates = (event.templates, event.epoch)
        self.log_message(f"epoch {event.epoch}/{self.state.epochs}: train loss "
                         f"{event.train_loss:.4f}, train acc {event.train_acc:.4f}, "
                         f"test acc {event.test_acc:.4f} ({event.seconds:.2f} s)")

    def on_sweep_epoch(self, event: SweepEpoch) -> None:
        """An epoch of a sweep: a test accuracy per rate."""
        if self.state.sweep is None:
            return
        self.state.sweep.add(event.rows)
        self.update_overlays()
        self.pending_probs = event.test_probs
        self.pending_templates = (event.templates, event.epoch)
        cells = " · ".join(f"lr {lr:g} " + (f"{row['test_acc']:.4f}" if row else "stopped")
                           for lr, row in zip(event.lrs, event.rows))
        self.log_message(f"epoch {event.epoch}/{self.state.epochs} test acc: {cells} "
                         f"({event.seconds:.2f} s; predictions and weights: lr "
                         f"{event.lrs[event.best]:g}, the best)")

    def on_core_message(self, event: Message) -> None:
        """Something to tell the user: the log, and a notice for warnings."""
        self.log_message(event.text, {"warning": "yellow", "error": "red"}.get(event.level))
        if event.level != "info":
            self.notify(event.text, severity=event.level, timeout=5, markup=False)

    def on_run_ended(self, event: RunEnded) -> None:
        """The run is over (or, watched, the other process says so)."""
        self.mode.run_ended(self, event)

    def add_run_dirs(self, run_dirs: list[str], checkpoint: str | None) -> None:
        """A sweep's runs join the Runs tab, each resumable alone; the best one's directory is
        the run's."""
        self.comparison.add([RunRecord.from_dir(d) for d in run_dirs])
        self.refresh_runs()
        if checkpoint:
            self.state.run_dir = str(Path(checkpoint).parent)

    def on_checkpoint_predictions(self, event: CheckpointPredictions) -> None:
        """A watched run's checkpoint, evaluated here."""
        self.weights.show(event.templates, event.epoch)
        for panel in self.prediction_panels:
            panel.update_predictions(event.probs)
        self.analysis.set_predictions(event.probs, self.predictions_labels())
        self.log_message(f"predictions from the checkpoint of epoch {event.epoch}")

    def on_training_failed(self, message: TrainingFailed) -> None:
        self.log_message(f"error: {message.text}", "red")
        self.notify(message.text, severity="error", timeout=10, markup=False)
        self.finish_run("failed", message.text)

    def predictions_labels(self):
        """The test labels (a tensor), as the run announced them."""
        return self.state.test_labels

    def finish_run(self, state: str, text: str) -> None:
        """Back to idle after a run ended, however it ended."""
        if self.state.current is not None:
            self.state.current.status = state
            current = self.state.current
            if current.test_acc:
                # A run with a directory is read back whole: a resumed run's epochs from
                # before this session are in its files, not in what this session drew.
                self.comparison.add([RunRecord.from_dir(current.path) if current.path and
                                     Path(current.path).is_dir() else current])
            self.state.current = None
            self.refresh_runs()
        self.state.end(state)
        self.state.last_status = state
        self.status_bar.state = state
        self.form.disabled = False
        self.redraw(force=True)
        if state != "failed":
            self.log_message(text)
            if state in ("diverged",):
                self.notify(text, severity="error", timeout=10, markup=False)
        if self.state.resume and state in ("finished", "stopped"):
            self.state.resume = None if state == "finished" else self.state.run_dir
        elif state == "stopped":
            self.state.resume = None
        self.form.resuming(self.state.resume)
        if self.mode.leaves_after_run(self):
            self.leave()


# The loop's events and their handlers, bound by type: a handler renamed or removed fails here,
# at import, not when its event first arrives.
EVENT_HANDLERS = {
    RunStarted: TrainingMixin.on_run_started,
    BatchEnd: TrainingMixin.on_batch_end,
    EpochEnd: TrainingMixin.on_epoch_end,
    SweepEpoch: TrainingMixin.on_sweep_epoch,
    Message: TrainingMixin.on_core_message,
    RunEnded: TrainingMixin.on_run_ended,
    CheckpointPredictions: TrainingMixin.on_checkpoint_predictions,
}
