"""The app's other runs: comparing finished runs, resuming one, and watching one another
process writes.

A mixin of `SmtuiApp`, kept apart so the app module stays about training itself. It relies on the
app's `records`, `overlay`, `curves` and `runs_table`, and posts the same `TrainingEvent`
messages the training worker posts, so a watched run is drawn by the same handlers.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import work

from ..events import Message
from .messages import TrainingEvent
from ..catalog import names_by_difference
from .runs_panel import RunsPanel


class RunsMixin:
    """Overlay and runs table for comparison; a polling worker for `smtui view`."""

    def refresh_runs(self) -> None:
        """Show every known run in the runs tab and on the plot's overlay."""
        self.runs_table.show(self.records)
        self.update_overlays()

    def update_overlays(self) -> None:
        """Overlay the test accuracy of the other runs when the overlay is on."""
        # A sweep's own curves are always drawn, named by their rates; its runs, once recorded,
        # are not overlaid a second time.
        own = self.state.sweep.overlays() if self.state.sweep else []
        hidden = {Path(d).name for d in self.state.sweep_dirs} if self.state.sweep else set()
        records = [r for r in self.records if r.name not in hidden] if self.overlay else []
        configs = [r.config for r in records]
        if self.state.current is not None:          # name the others against the run going on
            configs.append(self.state.current.config)
        names = names_by_difference(configs, [r.short_name for r in records] + ["this run"])
        self.curves.overlays = own + [(f"{name} test acc", [float(e) for e in r.epochs],
                                       r.test_acc) for name, r in zip(names, records)]
        self.curves.version += 1
        self.redraw_curves(force=True)

    def action_overlay(self) -> None:
        """Toggle the other runs' curves on the plot."""
        if not self.records:
            self.notify("No other runs yet: finish a run (or name run directories with "
                        "`smtui compare`) to compare.")
            return
        self.overlay = not self.overlay
        self.update_overlays()
        self.notify(f"Overlay of {len(self.records)} run(s) {'on' if self.overlay else 'off'}.")

    @work(thread=True, exit_on_error=False, group="watch")
    def watch_run(self, path: str) -> None:
        """Poll a run directory and post what changed, until the app quits."""
        from textual.worker import get_current_worker

        from ..watch import RunWatcher

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
                self.post_message(TrainingEvent(event))
            for _ in range(5):
                if worker.is_cancelled:
                    return
                time.sleep(0.1)

    def resumable(self) -> list:
        """The runs of the Runs tab that --resume would take: a checkpoint in their folder."""
        return [r for r in self.records
                if r.path and (Path(r.path) / "checkpoint.pt").is_file()]

    def on_runs_panel_resume_asked(self, message: RunsPanel.ResumeAsked) -> None:
        self.resume_run(message.record)

    def resume_run(self, record) -> None:
        """Make Start resume `record`'s run, as `smtui --resume` would: the form takes the
        checkpoint's settings (and says so), and the run's own rules apply when it starts
        (what may change, what is refused)."""
        if self.watch_dir or self.state.running:
            self.notify("Stop the run going on first (x)." if self.state.running else
                        "A watched run is resumed where it runs.", severity="warning")
            return
        if not record.path or not (Path(record.path) / "checkpoint.pt").is_file():
            self.notify(f"{record.label}: no checkpoint to resume from.", severity="warning",
                        markup=False)
            return
        from ..config import TrainConfig
        from ..errors import SmtuiError
        from ..runs import load_checkpoint
        try:
            saved = load_checkpoint(record.path).get("config", {})
        except SmtuiError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        config, _ = TrainConfig.from_saved(saved)
        self.state.resume = record.path
        self.form.set_values(config)
        self.form.resuming(record.path, len(record.epochs))
        self.tabs.active = "setup"
        self.log_message(f"Start resumes the run in {record.path}.")
