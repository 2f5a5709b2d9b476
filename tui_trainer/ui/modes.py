"""What differs between the app's three modes, in one object per mode that the app asks.

- `TrainMode` (`smtui`): the form's settings, trained (or swept) on Start.
- `WatchMode` (`smtui view RUN`): a run another process trains, read from its files; read-only.
- `ScriptMode` (a learner's `d2l.train_ch3` on a terminal): their net, trained at once; the
  window closes when it ends.

Each hook is given the run controller (controller.py), and acts through it and its panels.
A handler that would have tested "am I watching? is this a script?" calls its mode's hook
instead; the default hooks are the training mode's. Whether a run is a sweep is the run's own
state (`RunState.sweep`), not the app's mode: the training mode starts either from the form.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..store.rundir import RunDir
from .run_state import QUITTING

if TYPE_CHECKING:
    from .controller import RunController

REDRAW_S = 0.4          # curves and predictions redraw about twice a second (timers drift:
                        # 0.4 s gives two draws a second in practice, where 0.5 s gave one)
SCRIPT_REDRAW_S = 1.0   # a learner's net shares the CPU with the drawing: once a second
TRAINING_ACTIONS = frozenset({"start", "pause", "stop", "reset", "save_checkpoint"})


class TrainMode:
    """Training from the form: every key works, the status bar shows this process's figures."""

    locked: frozenset[str] = frozenset()   # actions that do nothing here (their keys hidden)
    redraw_s = REDRAW_S
    resume_refusal: str | None = None       # why the Runs tab cannot resume a run here

    def epochs_said(self) -> int:
        """How many epoch lines the process writes before what was printed now, once the
        window has closed (transcript.py): a script's epochs so far; none elsewhere."""
        return 0

    def mount(self, ctl: RunController) -> None:
        """Set the app up for this mode, once its widgets exist: the runs already in the
        --out folder are listed in the Runs tab, as a tracker lists a project's runs."""
        ctl.say("smtui ready. Edit the settings, then press s (or Start) to train.")
        if not ctl.runs.comparison.records:
            ctl.runs.list_out_folder()
        ctl.app.watch_machine()

    def core_loaded(self, ctl: RunController) -> None:
        """torch is loaded: the app is ready to train."""
        ctl.publish()

    def run_started(self, ctl: RunController, event: Any) -> None:
        """A run has announced itself (RunStarted)."""

    def epoch_ended(self, ctl: RunController, event: Any) -> None:
        """An epoch's row has arrived (EpochEnd); its test accuracy is drawn already."""

    def run_ended(self, ctl: RunController, event: Any) -> None:
        """The run is over (RunEnded): a sweep's runs join the Runs tab, each resumable."""
        if event.run_dirs:
            ctl.add_run_dirs(event.run_dirs, event.checkpoint)
        ctl.finish_run(event.status, event.message)

    def redrawn(self, ctl: RunController) -> None:
        """After each redraw tick."""

    def leaves_after_run(self, ctl: RunController) -> bool:
        """Whether the app closes once the run has ended."""
        return ctl.state.phase == QUITTING


class WatchMode(TrainMode):
    """`smtui view RUN`: the run is controlled where it runs; what is shown comes from its
    files, its settings and machine figures included."""

    locked = TRAINING_ACTIONS
    resume_refusal = "A watched run is resumed where it runs."

    def __init__(self, path: str) -> None:
        self.path = path

    def mount(self, ctl: RunController) -> None:
        ctl.panels.form.disabled = True
        ctl.panels.form.query_one("#start").display = False
        ctl.panels.tabs.active = "curves"
        ctl.app.title = f"smtui view {self.path}"
        ctl.state.watched = "watching"
        ctl.publish()
        ctl.say(f"Watching {self.path} (read-only).")
        ctl.watch(self.path)

    def core_loaded(self, ctl: RunController) -> None:
        pass   # the watched run's own state is shown, whatever this process has loaded

    def run_started(self, ctl: RunController, event: Any) -> None:
        first = ctl.state.current is None
        ctl.show_watched_run(event)
        if first and event.run_dir and \
                not RunDir(os.path.expanduser(self.path)).config_path.is_file():
            # a folder of runs (a sweep's, an --out folder): the newest is followed, the
            # others are listed beside it
            ctl.runs.list_out_folder(self.path, followed=event.run_dir)

    def epoch_ended(self, ctl: RunController, event: Any) -> None:
        """A watched run's rows have no points inside the epoch; its figures are its own."""
        from ..loop.meter import describe
        if event.machine:   # the watched process's, over its last epoch
            ctl.panels.status_bar.machine = "run: " + describe(event.machine)
        ctl.panels.curves.add("train loss", event.epoch, event.train_loss)
        ctl.panels.curves.add("train acc", event.epoch, event.train_acc)
        epochs = ctl.state.epochs
        speed = ctl.state.num_train / event.seconds if event.seconds else 0.0
        ctl.panels.status_bar.progress(event.epoch, epochs, 1, 1, speed,
                                       (epochs - event.epoch) * event.seconds)

    def run_ended(self, ctl: RunController, event: Any) -> None:
        """The other process says its run is over (or stalled, or paused)."""
        ctl.watched_ended(event)

    def redrawn(self, ctl: RunController) -> None:
        if ctl.panels.tabs.active == "runs":
            ctl.runs.show_rows()   # the watched run's row, as its epochs end


class ScriptMode(TrainMode):
    """A learner's `train_ch3`: their net trains as soon as torch is loaded; it cannot be
    started again or reset from here, and the window closes when it ends."""

    locked = frozenset({"start", "reset"})
    redraw_s = SCRIPT_REDRAW_S

    def __init__(self, session: Any) -> None:
        self.session = session

    def epochs_said(self) -> int:
        return len(self.session.history)

    def mount(self, ctl: RunController) -> None:
        from ..core.config import model_label
        from ..loop.usercode import describe_net

        ctl.panels.form.disabled = True
        called = (self.session.trained_by or "d2l.train_ch3").removeprefix("d2l.")
        ctl.app.title = f"smtui: {called} in {model_label(ctl.config.model)}"
        ctl.app.sub_title = describe_net(self.session.model.net)   # not "softmax regression"
        ctl.say(f"Training your net from {called}: space pauses, x stops (the script then "
                "raises KeyboardInterrupt); the window closes when training ends.")
        ctl.app.watch_machine()

    def core_loaded(self, ctl: RunController) -> None:
        super().core_loaded(ctl)
        if not ctl.state.controls:
            ctl.start_run(ctl.config, None, self.session)

    def leaves_after_run(self, ctl: RunController) -> bool:
        return True
