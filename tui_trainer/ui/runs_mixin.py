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

from ..core.events import Message
from .messages import TrainingEvent
from rich.text import Text

from ..store.catalog import matching, names_by_difference, parse_filter
from .panels.runs import RunsPanel
from ..store.rundir import RunDir


MAX_OVERLAYS = 8   # curves of other runs drawn at once; the legend says how many more
MAX_LISTED = 500   # runs of the --out folder listed at start: a folder of years stays quick


class RunsMixin:
    """Overlay and runs table for comparison; a polling worker for `smtui view`."""

    def refresh_runs(self) -> None:
        """Show the runs the filter keeps in the runs tab, and on the plot's overlay."""
        shown = matching(self.comparison.records, self.comparison.run_filter)
        c = self.comparison
        self.runs_table.show(shown)
        self.runs_note.update(Text(
            f"{len(shown)} of {len(c.records)} runs · enter: resume · p: pin · h: hide · "
            f"v: compare {'train loss' if c.metric == 'test acc' else 'test acc'}"
            if c.records else f"No runs yet: the runs in {self.config.out}, those of this "
            "session and those named with smtui compare are listed here."))
        self.update_overlays()

    def list_out_folder(self) -> None:
        """The runs in the --out folder (the newest MAX_LISTED), into the Runs tab, each once;
        their curves are overlaid when o asks. A folder that is missing or unreadable lists
        nothing: the first run creates it."""
        from ..store.catalog import find_runs
        from ..core.errors import SmtuiError
        from .panels.runs import RunRecord
        try:
            found = find_runs([self.config.out])
        except SmtuiError:
            return
        newest = sorted(found, key=lambda p: p.name)[-MAX_LISTED:]
        self.comparison.add([RunRecord.from_dir(p) for p in newest])
        self.refresh_runs()
        more = f" (the newest {MAX_LISTED} of {len(found)})" if len(found) > MAX_LISTED else ""
        self.log_message(f"{len(newest)} run(s) in {self.config.out}{more}: the Runs tab (5) "
                         "lists them, o overlays their curves.")

    def update_overlays(self) -> None:
        """Overlay the other runs' test accuracy (or train loss: v) when the overlay is on:
        those the filter keeps and not hidden, pinned first, then the best, at most
        MAX_OVERLAYS curves, so that 60 runs still leave a plot to read."""
        # A sweep's own curves are always drawn, named by their rates; its runs, once recorded,
        # are not overlaid a second time.
        own = self.state.sweep.overlays() if self.state.sweep else []
        more = max(0, len(own) - MAX_OVERLAYS)
        if more:   # a sweep of up to 64 rates: its best curves, in the order of their rates
            best = sorted(range(len(own)), key=lambda k: -max(own[k][2], default=0.0))
            own = [own[k] for k in sorted(best[:MAX_OVERLAYS])]
        in_sweep = {Path(d).name for d in self.state.sweep_dirs} if self.state.sweep else set()
        loss = self.comparison.metric == "train loss" and not own   # a sweep's are accuracies
        records = self.comparison.overlaid(in_sweep, loss)
        drawn = records[:max(0, MAX_OVERLAYS - len(own))]
        configs = [r.config for r in drawn]
        if self.state.current is not None:          # name the others against the run going on
            configs.append(self.state.current.config)
        names = names_by_difference(configs, [r.short_name for r in drawn] + ["this run"])
        self.curves.overlay_side = "left" if loss else "right"
        # Beside this session's own curves, an overlay says what it is; alone, the title does.
        suffix = f" {self.comparison.metric}" if self.state.current is not None or any(
            xs for xs, _ in self.curves.series.values()) else ""
        self.curves.overlays = own + [(f"{name}{suffix}",
                                       [float(e) for e in r.epochs],
                                       r.train_loss if loss else r.test_acc)
                                      for name, r in zip(names, drawn)]
        self.curves.more = more + len(records) - len(drawn)
        self.curves.version += 1
        self.redraw_curves(force=True)

    def on_runs_panel_marked(self, message: RunsPanel.Marked) -> None:
        """p or h on a run's row: pin it (drawn first, always) or hide it from the plot."""
        self.comparison.toggle_mark(message.record.key, message.mark)
        self.refresh_runs()

    def on_input_changed(self, event) -> None:
        """The Runs tab's filter, applied as it is typed; a filter it cannot read says why."""
        if event.input.id != "runs-filter":
            return
        event.stop()
        try:
            self.comparison.run_filter = parse_filter(event.value)
        except ValueError as exc:
            self.runs_note.update(Text(str(exc), style="red"))
            return
        self.refresh_runs()

    def action_compare_metric(self) -> None:
        """v: compare the runs' train loss instead of their test accuracy, and back."""
        metric = self.comparison.toggle_metric()
        self.refresh_runs()
        self.notify(f"Comparing {metric}.")

    def action_overlay(self) -> None:
        """Toggle the other runs' curves on the plot."""
        if not self.comparison.records:
            self.notify("No other runs yet: finish a run (or name run directories with "
                        "`smtui compare`) to compare.")
            return
        self.comparison.overlay = not self.comparison.overlay
        self.update_overlays()
        c = self.comparison
        self.notify(f"Overlay of {len(c.records)} run(s) {'on' if c.overlay else 'off'}.")

    @work(thread=True, exit_on_error=False, group="watch")
    def watch_run(self, path: str) -> None:
        """Poll a run directory and post what changed, until the app quits."""
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
                self.post_message(TrainingEvent(event))
            for _ in range(5):
                if worker.is_cancelled:
                    return
                time.sleep(0.1)

    def resumable(self) -> list:
        """The runs of the Runs tab that --resume would take: a checkpoint in their folder."""
        return [r for r in self.comparison.records
                if r.path and RunDir(r.path).checkpoint_path.is_file()]

    def on_runs_panel_resume_asked(self, message: RunsPanel.ResumeAsked) -> None:
        self.resume_run(message.record)

    def resume_run(self, record) -> None:
        """Make Start resume `record`'s run, as `smtui --resume` would: the form takes the
        checkpoint's settings (and says so), and the run's own rules apply when it starts
        (what may change, what is refused)."""
        if self.mode.resume_refusal or self.state.running:
            self.notify("Stop the run going on first (x)." if self.state.running else
                        self.mode.resume_refusal, severity="warning")
            return
        if not record.path or not RunDir(record.path).checkpoint_path.is_file():
            self.notify(f"{record.label}: no checkpoint to resume from.", severity="warning",
                        markup=False)
            return
        from ..core.config import TrainConfig
        from ..core.errors import SmtuiError
        from ..loop.resume import script_refusal
        from ..store.checkpoint import load_checkpoint
        try:
            refusal = script_refusal(record.path)
            if refusal:
                raise SmtuiError(refusal)
            state = load_checkpoint(record.path)
        except SmtuiError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        config, _ = TrainConfig.from_saved(state.get("config", {}))
        self.state.resume = record.path
        self.form.set_values(config)
        self.form.resuming(record.path, int(state.get("epoch", 0)), int(state.get("batch", 0)))
        self.tabs.active = "setup"
        # The Resume button, not a field: `s` resumes, as the form says, where a text field
        # would have taken the key as text.
        self.form.query_one("#start").focus()
        self.log_message(f"Start resumes the run in {record.path}.")
