"""What differs between the app's three modes, in one object per mode that the app asks.

- `TrainMode` (`smtui`): the form's settings, trained (or swept) on Start.
- `WatchMode` (`smtui view RUN`): a run another process trains, read from its files; read-only.
- `ScriptMode` (a learner's `d2l.train_ch3` on a terminal): their net, trained at once; the
  window closes when it ends.

A handler that would have tested "am I watching? is this a script?" calls its mode's hook
instead; the default hooks are the training mode's. Whether a run is a sweep is the run's own
state (`RunState.sweep`), not the app's mode: the training mode starts either from the form.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from .run_state import QUITTING

REDRAW_S = 0.4          # curves and predictions redraw about twice a second (timers drift:
                        # 0.4 s gives two draws a second in practice, where 0.5 s gave one)
SCRIPT_REDRAW_S = 1.0   # a learner's net shares the CPU with the drawing: once a second
TRAINING_ACTIONS = frozenset({"start", "pause", "stop", "reset", "save_checkpoint"})


class TrainMode:
    """Training from the form: every key works, the status bar shows this process's figures."""

    locked: frozenset[str] = frozenset()   # actions that do nothing here (their keys hidden)
    redraw_s = REDRAW_S
    resume_refusal: str | None = None       # why the Runs tab cannot resume a run here

    def mount(self, app: App) -> None:
        """Set the app up for this mode, once its widgets exist: the runs already in the
        --out folder are listed in the Runs tab, as a tracker lists a project's runs."""
        app.log_message("smtui ready. Edit the settings, then press s (or Start) to train.")
        if not app.comparison.records:
            app.list_out_folder()
        app.watch_machine()

    def core_loaded(self, app: App) -> None:
        """torch is loaded: the app is ready to train."""
        if not app.state.running:
            app.status_bar.state = "idle"

    def run_started(self, app: App, event: Any) -> None:
        """A run has announced itself (RunStarted)."""

    def epoch_ended(self, app: App, event: Any) -> None:
        """An epoch's row has arrived (EpochEnd); its test accuracy is drawn already."""

    def run_ended(self, app: App, event: Any) -> None:
        """The run is over (RunEnded): a sweep's runs join the Runs tab, each resumable."""
        if event.run_dirs:
            app.add_run_dirs(event.run_dirs, event.checkpoint)
        app.finish_run(event.status, event.message)

    def redrawn(self, app: App) -> None:
        """After each redraw tick."""

    def leaves_after_run(self, app: App) -> bool:
        """Whether the app closes once the run has ended."""
        return app.state.phase == QUITTING


class WatchMode(TrainMode):
    """`smtui view RUN`: the run is controlled where it runs; what is shown comes from its
    files, its settings and machine figures included."""

    locked = TRAINING_ACTIONS
    resume_refusal = "A watched run is resumed where it runs."

    def __init__(self, path: str) -> None:
        self.path = path

    def mount(self, app: App) -> None:
        app.form.disabled = True
        app.form.query_one("#start").display = False
        app.tabs.active = "curves"
        app.title = f"smtui view {self.path}"
        app.status_bar.state = "watching"
        app.log_message(f"Watching {self.path} (read-only).")
        app.watch_run(self.path)

    def core_loaded(self, app: App) -> None:
        pass   # the status bar says "watching" until the run's own state arrives

    def run_started(self, app: App, event: Any) -> None:
        app.show_watched_run(event)

    def epoch_ended(self, app: App, event: Any) -> None:
        """A watched run's rows have no points inside the epoch; its figures are its own."""
        from ..machine import describe
        if event.machine:   # the watched process's, over its last epoch
            app.status_bar.machine = "run: " + describe(event.machine)
        app.curves.add("train loss", event.epoch, event.train_loss)
        app.curves.add("train acc", event.epoch, event.train_acc)
        epochs = app.state.epochs
        speed = app.state.num_train / event.seconds if event.seconds else 0.0
        app.status_bar.progress(event.epoch, epochs, 1, 1, speed,
                                (epochs - event.epoch) * event.seconds)

    def run_ended(self, app: App, event: Any) -> None:
        """The other process says its run is over; a finished run's bar is full (it stayed at
        the last progress the run wrote, 65%, beside "finished")."""
        app.status_bar.state = event.status
        app.state.last_status = event.status
        if event.status == "finished":
            epochs = app.state.epochs
            app.status_bar.progress(epochs, epochs, 1, 1, 0.0, None)
        if app.state.current is not None:
            app.state.current.status = event.status
            app.refresh_runs()
        app.log_message(f"the watched run is {event.status}: {event.message}")

    def redrawn(self, app: App) -> None:
        if app.tabs.active == "runs":
            app.runs_table.show(app.comparison.records)   # the watched run's row, as its epochs end


class ScriptMode(TrainMode):
    """A learner's `train_ch3`: their net trains as soon as torch is loaded; it cannot be
    started again or reset from here, and the window closes when it ends."""

    locked = frozenset({"start", "reset"})
    redraw_s = SCRIPT_REDRAW_S

    def __init__(self, session: Any) -> None:
        self.session = session

    def mount(self, app: App) -> None:
        app.form.disabled = True
        from ..config import model_label
        from ..usercode import describe_net

        called = (self.session.trained_by or "d2l.train_ch3").removeprefix("d2l.")
        app.title = f"smtui: {called} in {model_label(app.config.model)}"
        app.sub_title = describe_net(self.session.model.net)   # not "softmax regression"
        app.log_message(f"Training your net from {called}: space pauses, x stops (the script "
                        "then raises KeyboardInterrupt); the window closes when training ends.")
        app.watch_machine()

    def core_loaded(self, app: App) -> None:
        super().core_loaded(app)
        if not app.state.controls:
            app.start_run(app.config, None, self.session)

    def leaves_after_run(self, app: App) -> bool:
        return True
