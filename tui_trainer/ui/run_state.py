"""The app's run state, in one place: what the TUI knows about the run it drives or watches.

The phase says what the app is doing with a run; every handler reads and writes it here, rather
than through flags spread over the app (a reset was once `running`, `resetting` and `control`
at once). What the status bar says is derived from this state (`RunState.status`), never stored
in a widget and read back: "stalled" was once a status bar's text that the next progress report
tested for, so the screen held a fact about the run that nothing else knew. The widgets keep
only their own pending data (the log its lines, the curves their points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.events import Control

# What the app is doing with a run. Every phase but idle has a training worker in flight.
IDLE = "idle"              # no run: the form is open
RUNNING = "running"        # the worker trains
PAUSED = "paused"          # the loop waits between batches
STOPPING = "stopping"      # asked to stop; its checkpoint and end are on their way
RESETTING = "resetting"    # stopping after a reset: its last events are dropped
QUITTING = "quitting"      # stopping because the app leaves when the run has ended

# The status bar's words for a phase with a worker in flight (RUNNING depends on more).
PHASE_WORDS = {PAUSED: "paused", STOPPING: "stopping…", RESETTING: "stopping…",
               QUITTING: "stopping to quit…"}


@dataclass
class RunState:
    """The run the app drives (or watches), its record so far and how the last one ended."""

    epochs: int                             # of the run going on, or of the form's config
    phase: str = IDLE
    control: Control | None = None          # the running loop's stop, pause and save requests
    controls: list[Control] = field(default_factory=list)   # every run's, so leaving waits
    last_status: str = "idle"               # how the last run ended (finished, stopped, ...)
    core_loaded: bool = False               # torch is imported: a run can start
    announced: bool = False                 # the run going on has said RunStarted
    watched: str | None = None              # `smtui view`: the watched run's own state
    threads: int = 0                        # CPU threads the loop uses now (0: not known)
    resume: str | None = None               # the run directory Start resumes
    run_dir: str | None = None              # the current or last run's directory
    sweep_dirs: list[str] = field(default_factory=list)     # the last run's, when a sweep
    current: Any = None                     # the run going on, as a RunRecord for the runs tab
    sweep: Any = None                       # the sweep going on or last shown (SweepCurves)
    num_train: int = 0
    test_labels: Any = None                 # the run's test labels (a tensor), as announced
    ended: Any = None                       # a learner's train_ch3: how it ended (RunEnded), or
    error: BaseException | None = None      # ... the exception their code raised

    @property
    def running(self) -> bool:
        """A training worker is in flight."""
        return self.phase != IDLE

    @property
    def status(self) -> str:
        """The run's state in the status bar's words, derived from the phase and the record:
        a watched run's own state, the phase of a run going on, else how the last one ended."""
        if self.watched is not None:
            return self.watched
        if self.phase == RUNNING:
            return "training" if self.announced else "starting…"
        if self.phase in PHASE_WORDS:
            return PHASE_WORDS[self.phase]
        return self.last_status if self.core_loaded else "loading torch…"

    def start(self, control: Control) -> None:
        """A run begins with these controls."""
        self.phase, self.control, self.announced = RUNNING, control, False
        self.controls.append(control)

    def end(self, status: str) -> None:
        """The run is over (`status`: finished, stopped, diverged, failed)."""
        self.phase, self.control, self.last_status = IDLE, None, status

    def unfinished(self) -> list[Control]:
        """The controls of every run whose loop has not yet ended."""
        return [c for c in self.controls if not c.finished.is_set()]
