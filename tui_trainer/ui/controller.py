"""The app's one run controller: a plain object that owns the run's state and tells the panels.

The app composes the panels and routes keys; everything that happens to a run goes through here:
the keys that start, pause, stop, reset and checkpoint it, the loop's events as they arrive from
the worker thread (or from a watched run's files), and its end. What the app shows of the run is
derived from `RunState` and pushed to the panels (`publish`): no handler reads a widget back.
What differs between training, watching and a learner's script is asked of the mode (modes.py);
the other runs of the Runs tab are `RunsTab`'s (runs_tab.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.config import TrainConfig, model_label
from ..core.console import eta_seconds, inert, plural
from ..core.events import BatchEnd, Control, EpochEnd, Message, RunEnded, RunStarted, SweepEpoch
from ..store.watch import CheckpointPredictions
from .messages import TrainingEvent, TrainingFailed
from .panels.runs import RunRecord, SweepCurves
from .run_state import PAUSED, QUITTING, RESETTING, RUNNING, STOPPING, RunState
from .runs_tab import RunsTab
from .threads import parallel_here, serial_here

if TYPE_CHECKING:
    from textual.widgets import Static, TabbedContent

    from .app import SmtuiApp
    from .modes import TrainMode
    from .panels.analysis import AnalysisPanel
    from .panels.curves import CurvesPanel
    from .panels.dashboard import MirrorCurves
    from .panels.form import ConfigForm
    from .panels.predictions import PredictionsPanel
    from .panels.runs import RunsPanel
    from .panels.status import StatusBar
    from .panels.weights import WeightsPanel

PROGRESS_POST_S = 0.25  # the worker posts progress at most four times a second


@dataclass
class Panels:
    """The widgets the controller tells, looked up once when the app is mounted: handlers that
    run while the app shuts down (a last message from the worker) then touch detached widgets
    instead of failing a query."""

    form: ConfigForm
    tabs: TabbedContent
    curves: CurvesPanel
    curves_legend: Static
    predictions: PredictionsPanel
    dash_preds: PredictionsPanel
    dash_curves: MirrorCurves
    dash_legend: Static
    dash_settings: Static
    analysis: AnalysisPanel
    runs_table: RunsPanel
    runs_note: Static
    weights: WeightsPanel
    status_bar: StatusBar

    @property
    def prediction_panels(self) -> list[PredictionsPanel]:
        """The Predictions tab's panel and the Train view's strip, drawn alike."""
        return [self.predictions, self.dash_preds]


class RunController:
    """The run the app drives or watches: its state, its worker, its events and its end."""

    def __init__(self, app: SmtuiApp, panels: Panels, state: RunState, mode: TrainMode,
                 runs: RunsTab) -> None:
        self.app, self.panels, self.state, self.mode, self.runs = app, panels, state, mode, runs
        self.pending_probs: Any = None       # an epoch's test predictions, drawn at the next tick
        self.pending_templates: Any = None   # (templates, epoch) of a linear model, likewise

    @property
    def config(self) -> TrainConfig:
        """The settings of the run going on (or last started, or the form's at start)."""
        return self.app.config

    # ------------------------------------------------------------------ what is shown
    def publish(self) -> None:
        """Tell the status bar what the state says: the one way its state reaches the screen."""
        bar = self.panels.status_bar
        bar.state, bar.threads = self.state.status, self.state.threads

    def say(self, text: str, style: str | None = None) -> None:
        """A line in the Log tab."""
        self.app.log_message(text, style)

    # ------------------------------------------------------------------ starting
    def core_loaded(self, device: str) -> None:
        """torch is loaded: the device is known and a run can start."""
        self.state.core_loaded = True
        self.panels.status_bar.device = self.config.device if self.config.device != "auto" \
            else device
        self.publish()
        self.mode.core_loaded(self)

    def start_from_form(self) -> None:
        """Start a run with the form's config (s, or the Start button)."""
        if self.state.running:
            self.app.notify("A run is already going on: stop (x) or reset (r) first.",
                            severity="warning")
            return
        form = self.panels.form
        config, errors = form.read()
        if config is None:
            self.panels.tabs.active = "setup"
            self.app.notify("Fix the invalid fields first: " + ", ".join(errors),
                            severity="error", markup=False)
            return
        lrs = form.sweep_lrs
        if lrs and self.state.resume:
            self.app.notify(f"A sweep starts new runs; Start resumes {self.state.resume} only "
                            "with the sweep field empty.", severity="error", markup=False)
            return
        self.start_run(config, lrs)

    def start_run(self, config: TrainConfig, lrs: list[float] | None, session=None) -> None:
        """Lock the form, clear the views and start the worker: a run of `config`, a sweep of
        `lrs`, or a script's prepared `session`."""
        self.app.config = config
        control = Control(beside_ui=True)
        self.state.start(control)
        self.panels.form.disabled = True
        self.state.epochs = config.epochs
        self.panels.curves.reset(config.epochs)
        self.state.sweep = SweepCurves(lrs) if lrs else None
        self.state.current = None if lrs else RunRecord(
            "this script, running" if session is not None else "this session, running",
            config.to_dict())
        self.runs.update_overlays()
        self.publish()
        self.panels.tabs.active = "train" if self.app.big_screen() else "curves"
        what = (f"a sweep of {len(lrs)} learning rates ({', '.join(f'{lr:g}' for lr in lrs)})"
                if lrs else f"lr {config.lr:g}")
        self.say(f"Starting: {model_label(config.model)}, {config.optimizer} {what}, "
                 f"batch {config.batch_size}, {plural(config.epochs, 'epoch')}.")
        # A thread of its own, not a Textual thread worker: those run in asyncio's executor,
        # whose exit hook joins its threads; a learner's DataLoader forks its workers from this
        # thread, and in each worker that hook then joined the worker's own thread and failed,
        # so every worker exited 1 ("DataLoader worker exited unexpectedly"). A plain thread
        # forks as a plain Python program's does. The app waits for the loop through `control`.
        threading.Thread(target=self.train, args=(config, self.state.resume, control, lrs,
                                                  session),
                         name="smtui-train", daemon=True).start()

    def train(self, config: TrainConfig, resume: str | None, control: Control,
              lrs: list[float] | None = None, session=None) -> None:
        """The training thread: prepare and fit (a sweep of `lrs` when given; a script's
        `session` as it was prepared), posting every event to the app. A stop requested while
        the data loads is honoured by `fit` at its first batch: the run directory then says
        "stopped before the first batch", never "running"."""
        from ..core.errors import SmtuiError
        from ..loop.sweep import fit_sweep, prepare_sweep
        from ..loop.train import fit, prepare

        post = self.app.post_message
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
            post(TrainingEvent(event))

        try:
            parallel_here()
            if config.tensorboard:
                from ..store.tensorboard import TensorBoardListener
                board = TensorBoardListener(config.tensorboard,
                                            say=lambda e: post(TrainingEvent(e)))
            if lrs:
                fit_sweep(prepare_sweep(config, lrs), listener, control)
            elif session is not None:
                self.state.ended = fit(session, listener, control)
            else:
                fit(prepare(config, resume=resume), listener, control)
        except Exception as exc:  # shown in the UI; the app keeps running
            if session is not None:
                self.state.error = exc   # the learner's script raises it after the window
            post(TrainingFailed(str(exc) if isinstance(exc, SmtuiError)
                                else f"{type(exc).__name__}: {exc}"))
        finally:
            control.finished.set()

    def watch(self, path: str) -> None:
        """`smtui view`: poll a run directory in a worker and post what changed, until the app
        quits; the same handlers draw it as a run trained here."""
        self.app.run_worker(lambda: self._poll(path), thread=True, exit_on_error=False,
                            group="watch")

    def _poll(self, path: str) -> None:
        from textual.worker import get_current_worker

        from ..store.watch import RunWatcher

        worker = get_current_worker()
        watcher = RunWatcher(path)
        last_failure = None
        while not worker.is_cancelled:
            try:
                events = watcher.poll()
                last_failure = None
            except Exception as exc:  # a file caught mid-change: say so (once) and try again
                failure = f"could not read {path}: {exc}"
                events = [Message(failure, "warning")] if failure != last_failure else []
                last_failure = failure
            for event in events:
                self.app.post_message(TrainingEvent(event))
            for _ in range(5):
                if worker.is_cancelled:
                    return
                time.sleep(0.1)

    # ------------------------------------------------------------------ the loop's events
    def handle(self, event: Any) -> None:
        """Each of the loop's events goes to its handler (`EVENT_HANDLERS`, by type)."""
        serial_here()   # events carry tensors: the UI thread's work on them stays serial
        if self.state.phase == RESETTING and not isinstance(event, RunEnded):
            return   # the run being reset still reports until it has stopped
        handler: Any = EVENT_HANDLERS[type(event)]
        handler(self, event)

    def on_run_started(self, event: RunStarted) -> None:
        """A run is set up: data, run directory, threads."""
        self.state.run_dir = event.run_dir
        self.state.sweep_dirs = event.run_dirs
        self.state.announced = True
        current = self.state.current
        if current is not None and event.run_dir:
            current.name = Path(event.run_dir).name
            current.path = event.run_dir   # the Runs tab can resume it
        self.mode.run_started(self, event)
        bar = self.panels.status_bar
        bar.device, bar.dataset = event.device, event.dataset
        self.publish()
        self.state.test_labels = event.test_labels
        if event.test_images is not None:   # a watched run whose data is not on this machine
            for panel in self.panels.prediction_panels:
                panel.set_data(event.test_images, event.test_labels)
        if event.test_images is None:
            self.say(f"Data: {event.dataset} Fashion-MNIST from {event.source or '?'}, not "
                     "on this machine: the run's settings and curves without its images")
        else:
            self.say(f"Data: {event.dataset} Fashion-MNIST ({event.num_train} train / "
                     f"{event.num_test} test) from {event.source}")
        if self.state.sweep is not None and event.run_dir:
            self.say(f"Run directories: one per learning rate in {Path(event.run_dir).parent}, "
                     f"named like {Path(event.run_dir).name}")
        elif event.run_dir:
            self.say(f"Run directory: {event.run_dir}")
        else:   # a learner's train_ch3 without out=
            self.say("No run directory: nothing of this run is kept on disk (train_ch3's "
                     "out='runs' keeps one, for smtui view and compare)")
        if event.threads:
            self.say(f"CPU threads: {event.threads}; the status bar shows those in use (×N), "
                     "fewer while other processes share the CPU")

    def show_watched_run(self, event: RunStarted) -> None:
        """`smtui view`: what the app shows of a run comes from the run's files, its settings
        (the Train view, the Setup tab, read-only) and its row in the Runs tab included. The
        same run announced again was resumed by another process, perhaps with other settings
        (more epochs): those are shown, and its curves so far kept."""
        again = self.state.current is not None and \
            self.state.current.path == event.run_dir
        self.app.config, _ = TrainConfig.from_saved(event.config)
        self.panels.form.set_values(self.config)
        self.state.epochs = self.config.epochs
        self.state.num_train = event.num_train
        self.state.watched = "training"
        if again:
            self.panels.curves.epochs = self.state.epochs
            self.panels.curves.dirty = True
            self.say(f"the run was resumed: now to epoch {self.state.epochs}")
            return
        self.panels.curves.reset(self.state.epochs)
        self.state.current = RunRecord(inert(Path(event.run_dir or self.app.title).name),
                                       event.config, status="running", path=event.run_dir or "")
        self.runs.comparison.records = [self.state.current]
        self.runs.refresh()

    def on_batch_end(self, event: BatchEnd) -> None:
        """Progress inside an epoch: the running curves and the status bar."""
        if self.state.sweep is None:   # a sweep's progress is the mean of its models: not drawn
            x = event.epoch - 1 + event.batch / event.num_batches
            self.panels.curves.add("train loss", x, event.loss)
            self.panels.curves.add("train acc", x, event.acc)
        self.panels.status_bar.progress(
            event.epoch, self.state.epochs, event.batch, event.num_batches,
            event.examples_per_s, eta_seconds(event, self.state.epochs)
            if event.examples_per_s > 0 else None)   # 0: pace unknown
        self.state.threads = event.threads
        if self.state.watched not in (None, "training"):   # a watched run that moves again:
            self.state.watched = "training"                # stalled, paused, resumed elsewhere
            if self.state.current is not None:
                self.state.current.status = "running"
        self.publish()

    def on_epoch_end(self, event: EpochEnd) -> None:
        """An epoch is done: its test accuracy, predictions and log line."""
        self.panels.curves.add("test acc", event.epoch, event.test_acc)
        self.mode.epoch_ended(self, event)
        current = self.state.current
        if current is not None:
            current.epochs.append(event.epoch)
            current.test_acc.append(event.test_acc)
            current.train_loss.append(event.train_loss)
        if event.test_probs is not None:
            self.pending_probs = event.test_probs
            self.pending_templates = (event.templates, event.epoch)
        self.say(f"epoch {event.epoch}/{self.state.epochs}: train loss "
                 f"{event.train_loss:.4f}, train acc {event.train_acc:.4f}, "
                 f"test acc {event.test_acc:.4f} ({event.seconds:.2f} s)")

    def on_sweep_epoch(self, event: SweepEpoch) -> None:
        """An epoch of a sweep: a test accuracy per rate."""
        if self.state.sweep is None:
            return
        self.state.sweep.add(event.rows)
        self.runs.update_overlays()
        self.pending_probs = event.test_probs
        self.pending_templates = (event.templates, event.epoch)
        cells = " · ".join(f"lr {lr:g} " + (f"{row['test_acc']:.4f}" if row else "stopped")
                           for lr, row in zip(event.lrs, event.rows))
        self.say(f"epoch {event.epoch}/{self.state.epochs} test acc: {cells} "
                 f"({event.seconds:.2f} s; predictions and weights: lr "
                 f"{event.lrs[event.best]:g}, the best)")

    def on_core_message(self, event: Message) -> None:
        """Something to tell the user: the log, and a notice for warnings (which the app keeps
        in the log itself: said here too, each warning was in the Log twice)."""
        if event.level == "info":
            self.say(event.text)
        else:
            self.app.notify(event.text, severity=event.level, timeout=5, markup=False)

    def on_run_ended(self, event: RunEnded) -> None:
        """The run is over (or, watched, the other process says so)."""
        self.mode.run_ended(self, event)

    def on_checkpoint_predictions(self, event: CheckpointPredictions) -> None:
        """A watched run's checkpoint, evaluated here."""
        self.panels.weights.show(event.templates, event.epoch)
        for panel in self.panels.prediction_panels:
            panel.update_predictions(event.probs)
        self.panels.analysis.set_predictions(event.probs, self.state.test_labels)
        self.say(f"predictions from the checkpoint of epoch {event.epoch}")

    def failed(self, text: str) -> None:
        """The worker could not start or go on with the run."""
        self.say(f"error: {text}", "red")
        self.app.notify(text, severity="error", timeout=10, markup=False)
        self.finish_run("failed", text)

    def add_run_dirs(self, run_dirs: list[str], checkpoint: str | None) -> None:
        """A sweep's runs join the Runs tab, each resumable alone; the best one's directory is
        the run's."""
        self.runs.add_dirs(run_dirs)
        if checkpoint:
            self.state.run_dir = str(Path(checkpoint).parent)

    def finish_run(self, status: str, text: str) -> None:
        """Back to idle after a run ended, however it ended. Whether the app leaves now is
        asked before the state goes idle: a quit's run is QUITTING until this moment (asked
        after, it never was, and every quit during a run waited out the app's grace timer)."""
        leaving = self.mode.leaves_after_run(self)
        current = self.state.current
        if current is not None:
            current.status = status
            if current.test_acc:
                self.runs.add_finished(current)
            self.state.current = None
            self.runs.refresh()
        self.state.end(status)
        self.publish()
        self.panels.form.disabled = False
        self.draw_pending(force=True)
        if status != "failed":
            self.say(text)
            if status == "diverged":
                self.app.notify(text, severity="error", timeout=10, markup=False)
        if self.state.resume and status in ("finished", "stopped"):
            self.state.resume = None if status == "finished" else self.state.run_dir
        elif status == "stopped":
            self.state.resume = None
        self.panels.form.resuming(self.state.resume)
        if leaving:
            self.app.leave()

    def watched_ended(self, event: RunEnded) -> None:
        """`smtui view`: the other process says its run is over (or stalled, or paused by its
        user, which the viewer had shown as `training`); a finished run's
        bar is full (it stayed at the last progress the run wrote, 65%, beside "finished")."""
        self.state.watched = event.status
        self.state.last_status = event.status
        if event.status == "finished":
            epochs = self.state.epochs
            self.panels.status_bar.progress(epochs, epochs, 1, 1, 0.0, None)
        self.publish()
        if self.state.current is not None:
            self.state.current.status = event.status
            self.runs.refresh()
        self.say(f"the watched run is {event.status}: {event.message}")

    # ------------------------------------------------------------------ the keys
    def toggle_pause(self) -> None:
        """Pause or resume the running loop."""
        control = self.state.control
        if not self.state.running or control is None:
            self.app.notify("Nothing to pause: no run is going on.")
            return
        if control.paused:
            control.unpause()
            self.state.phase = RUNNING
        else:
            control.pause()
            self.state.phase = PAUSED
        self.publish()

    def stop(self) -> None:
        """Stop the run at the next batch (a checkpoint is written)."""
        if not self.state.running or self.state.control is None:
            self.app.notify("Nothing to stop: no run is going on.")
            return
        self.state.control.request_stop()
        self.state.phase = STOPPING
        self.publish()

    def reset(self) -> None:
        """Stop any run, clear curves and predictions, and unlock the form."""
        if self.state.running and self.state.control is not None:
            self.state.control.request_stop()
            self.state.phase = RESETTING
        panels = self.panels
        self.state.resume = None
        panels.form.resuming(None)
        self.pending_probs = self.pending_templates = None
        panels.weights.clear()
        panels.curves.reset(panels.form.initial.epochs)
        self.state.sweep = None
        self.runs.update_overlays()
        self.redraw_curves(force=True)
        for panel in panels.prediction_panels:
            panel.clear()
        panels.analysis.clear()
        panels.status_bar.reset_progress()
        self.publish()
        panels.tabs.active = "setup"
        self.say("Reset: curves and predictions cleared.")

    def save_checkpoint(self) -> None:
        """Ask the loop for a checkpoint now; outside a run, say where the last one is."""
        control = self.state.control
        if self.state.running and control is not None:
            control.request_save()
            self.app.notify("Saving a checkpoint now (paused)." if control.paused
                            else "Saving a checkpoint at the next batch.")
        elif self.state.run_dir:
            from ..store.rundir import RunDir
            self.app.notify("Checkpoints are saved at each epoch end: "
                            f"{RunDir(self.state.run_dir).checkpoint_path}", markup=False)
        else:
            self.app.notify("No run yet: nothing to save.")

    def stop_to_quit(self, reason: str | None) -> bool:
        """The app is leaving: a run going on is asked to stop (`reason` is recorded in its
        status). True when the app should wait for that run's end before it closes."""
        if self.state.running and self.state.control is not None:
            self.state.phase = QUITTING
            self.state.control.request_stop(reason)
            self.publish()
            return True
        return False

    # ------------------------------------------------------------------ the redraw tick
    def draw_pending(self, force: bool = False) -> None:
        """The timer's tick: the latest epoch's predictions, then the curves. Drawing each
        epoch's predictions as it ends took half a core from training at seven epochs a second."""
        panels = self.panels
        probs, self.pending_probs = self.pending_probs, None
        if probs is not None:
            for panel in panels.prediction_panels:
                panel.update_predictions(probs)
            panels.analysis.set_predictions(probs, self.state.test_labels)
        templates, self.pending_templates = self.pending_templates, None
        if templates is not None:
            panels.weights.show(*templates)
        self.mode.redrawn(self)
        self.redraw_curves(force)

    def redraw_curves(self, force: bool = False) -> None:
        """Redraw the plot when it changed (timer-driven: the rate stays bounded)."""
        panels = self.panels
        curves = panels.curves
        if force:
            curves.dirty = True
        if panels.tabs.active == "curves":   # a hidden plot is drawn when its tab is shown
            if curves.redraw():
                panels.curves_legend.update(curves.legend())
        elif panels.tabs.active == "train":
            self.update_settings()
            if panels.dash_curves.follow(curves) or force:
                panels.dash_curves.dirty = True
            if panels.dash_curves.redraw():
                panels.dash_legend.update(panels.dash_curves.legend())

    def update_settings(self) -> None:
        """The Train view's settings column: the run's config, state and directory."""
        from .panels.dashboard import settings_text
        threads = f"×{self.state.threads} threads" if self.state.threads else ""
        config = self.config.to_dict()
        if self.state.sweep is not None:
            config["lr"] = ", ".join(f"{lr:g}" for lr in self.state.sweep.lrs) + " (a sweep)"
        self.panels.dash_settings.update(settings_text(config, self.state.status,
                                                       self.state.run_dir, threads))


# The loop's events and their handlers, bound by type: a handler renamed or removed fails here,
# at import, not when its event first arrives.
EVENT_HANDLERS = {
    RunStarted: RunController.on_run_started,
    BatchEnd: RunController.on_batch_end,
    EpochEnd: RunController.on_epoch_end,
    SweepEpoch: RunController.on_sweep_epoch,
    Message: RunController.on_core_message,
    RunEnded: RunController.on_run_ended,
    CheckpointPredictions: RunController.on_checkpoint_predictions,
}
