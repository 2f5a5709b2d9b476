"""The other runs: the Runs tab's rows and the curves they overlay, and a run to resume.

`RunsTab` holds the `Comparison` (which runs, filtered, pinned, hidden, which metric) and tells
the Runs panel and the curves what to show. It reads the run going on from the same `RunState`
as the run controller (controller.py), which calls it when a run ends; it owns no run itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from ..core.console import inert
from ..store.catalog import matching, names_by_difference, parse_filter, sorted_runs
from ..store.rundir import RunDir
from .panels.runs import Comparison, RunRecord
from .run_state import RunState

if TYPE_CHECKING:
    from .app import SmtuiApp
    from .controller import Panels

MAX_OVERLAYS = 8   # curves of other runs drawn at once; the legend says how many more
MAX_LISTED = 500   # runs of the --out folder listed at start: a folder of years stays quick
RELOAD_S = 2.0     # how often the runs other processes train are read again
LIVE = ("starting", "running", "stalled", "paused")   # the states of a run that may still change


class RunsTab:
    """Overlay and runs table for comparison, and the Runs tab's resume."""

    def __init__(self, app: SmtuiApp, state: RunState, comparison: Comparison) -> None:
        self.app, self.state, self.comparison = app, state, comparison
        self.panels: Panels | None = None   # once the app is mounted

    def attach(self, panels: Panels) -> None:
        """The panels to tell, once the app has composed them."""
        self.panels = panels

    def refresh(self) -> None:
        """Show the runs the filter keeps in the runs tab, and on the plot's overlay."""
        assert self.panels is not None
        c = self.comparison
        shown = matching(c.records, c.run_filter)
        if c.order:
            shown = sorted_runs(shown, *c.order)
        self.panels.runs_table.show(shown)
        self.panels.runs_note.update(Text(
            f"{len(shown)} of {len(c.records)} runs · /: filter · enter: resume · p: pin · "
            "h: hide · "
            f"v: compare {'train loss' if c.metric == 'test acc' else 'test acc'}"
            if c.records else f"No runs yet: the runs in {self.app.config.out}, those of this "
            "session and those named with smtui compare are listed here."))
        self.update_overlays()

    def show_rows(self) -> None:
        """The rows again, as they are now (a watched run's, as its epochs end)."""
        assert self.panels is not None
        self.panels.runs_table.show(self.comparison.records)

    def add_dirs(self, run_dirs: list[str]) -> None:
        """Runs read from their directories join the tab (a sweep's, each resumable alone)."""
        self.comparison.add([RunRecord.from_dir(d) for d in run_dirs])
        self.refresh()

    def add_finished(self, record: RunRecord) -> None:
        """A run of this session has ended. One with a directory is read back whole: a
        resumed run's epochs from before this session are in its files, not in what this
        session drew."""
        self.comparison.add([RunRecord.from_dir(record.path) if record.path and
                             Path(record.path).is_dir() else record])

    def reload_live(self) -> None:
        """The runs of the tab that other processes train, read again from their records,
        so a comparison stays live as a tracker's does (20 s after a sweep had stopped, the
        tab still said running and its curves were frozen). Finished runs are not read again;
        the run this app drives or watches is told by its own events."""
        changed = False
        for i, record in enumerate(self.comparison.records):
            if record is self.state.current or not record.path or record.status not in LIVE:
                continue
            fresh = RunRecord.from_dir(record.path)
            if (fresh.status, fresh.epochs) != (record.status, record.epochs):
                self.comparison.records[i] = fresh
                changed = True
        if changed:
            self.refresh()

    def list_out_folder(self, folder: str | None = None, followed: str | None = None) -> None:
        """The runs in `folder` (default: the --out folder; the newest MAX_LISTED), into the
        Runs tab, each once; their curves are overlaid when o asks. A folder that is missing
        or unreadable lists nothing: the first run creates it. `followed`: the run `smtui view
        FOLDER` follows, listed already: the others are said beside it (a sweep folder viewed
        said `1 of 1 runs`, and nothing of the others)."""
        from ..core.errors import SmtuiError
        from ..store.catalog import find_runs
        out = folder or self.app.config.out
        skipped: list[str] = []
        try:
            found = find_runs([out], skipped)
        except SmtuiError:
            return
        for problem in skipped:
            self.app.log_message(problem, "yellow")
        here = Path(followed).resolve() if followed else None
        others = [p for p in found if p.resolve() != here]
        newest = sorted(others, key=lambda p: p.name)[-MAX_LISTED:]
        self.comparison.add([RunRecord.from_dir(p) for p in newest])
        self.refresh()
        more = f" (the newest {MAX_LISTED} of {len(others)})" if len(others) > MAX_LISTED else ""
        if followed is None:
            self.app.log_message(f"{len(newest)} run(s) in {out}{more}: the Runs tab (5) lists "
                                 "them, o overlays their curves.")
        elif others:
            text = (f"{out} holds {len(others) + 1} runs: following the newest, "
                    f"{inert(Path(followed).name)}; the Runs tab (5) lists the others{more}, "
                    "o overlays their curves")
            self.app.log_message(text)
            self.app.notify(text, timeout=8, markup=False)

    def update_overlays(self) -> None:
        """Overlay the other runs' test accuracy (or train loss: v) when the overlay is on:
        those the filter keeps and not hidden, pinned first, then the best, at most
        MAX_OVERLAYS curves, so that 60 runs still leave a plot to read."""
        assert self.panels is not None
        curves, state = self.panels.curves, self.state
        # A sweep's own curves are always drawn, named by their rates; its runs, once recorded,
        # are not overlaid a second time.
        own = state.sweep.overlays() if state.sweep else []
        more = max(0, len(own) - MAX_OVERLAYS)
        if more:   # a sweep of up to 64 rates: its best curves, in the order of their rates
            best = sorted(range(len(own)), key=lambda k: -max(own[k][2], default=0.0))
            own = [own[k] for k in sorted(best[:MAX_OVERLAYS])]
        in_sweep = {Path(d).name for d in state.sweep_dirs} if state.sweep else set()
        loss = self.comparison.metric == "train loss" and not own   # a sweep's are accuracies
        records = self.comparison.overlaid(in_sweep, loss)
        drawn = records[:max(0, MAX_OVERLAYS - len(own))]
        configs = [r.config for r in drawn]
        if state.current is not None:          # name the others against the run going on
            configs.append(state.current.config)
        names = names_by_difference(configs, [r.short_name for r in drawn] + ["this run"])
        curves.overlay_side = "left" if loss else "right"
        # Beside this session's own curves, an overlay says what it is; alone, the title does.
        suffix = f" {self.comparison.metric}" if state.current is not None or any(
            xs for xs, _ in curves.series.values()) else ""
        curves.overlays = own + [(f"{name}{suffix}", [float(e) for e in r.epochs],
                                  r.train_loss if loss else r.test_acc)
                                 for name, r in zip(names, drawn)]
        curves.more = more + len(records) - len(drawn)
        curves.version += 1
        self.app.controller.redraw_curves(force=True)

    def toggle_mark(self, record: RunRecord, mark: str) -> None:
        """p or h on a run's row: pin it (drawn first, always) or hide it from the plot."""
        self.comparison.toggle_mark(record.key, mark)
        self.refresh()

    def sort_by(self, key: str) -> None:
        """A click on a column's header: the rows by that column (again: the other way)."""
        key, descending = self.comparison.sort_by(key)
        self.refresh()
        self.app.notify(f"Runs sorted by {key}, {'largest' if descending else 'smallest'} "
                        "first.")

    def set_filter(self, text: str) -> None:
        """The Runs tab's filter, applied as it is typed; a filter it cannot read says why."""
        assert self.panels is not None
        try:
            self.comparison.run_filter = parse_filter(text)
        except ValueError as exc:
            self.panels.runs_note.update(Text(str(exc), style="red"))
            return
        self.refresh()

    def toggle_metric(self) -> None:
        """v: compare the runs' train loss instead of their test accuracy, and back."""
        metric = self.comparison.toggle_metric()
        self.refresh()
        self.app.notify(f"Comparing {metric}.")

    def toggle_overlay(self) -> None:
        """Toggle the other runs' curves on the plot."""
        c = self.comparison
        if not c.records:
            self.app.notify("No other runs yet: finish a run (or name run directories with "
                            "`smtui compare`) to compare.")
            return
        c.overlay = not c.overlay
        self.update_overlays()
        self.app.notify(f"Overlay of {len(c.records)} run(s) {'on' if c.overlay else 'off'}.")

    def resumable(self) -> list[RunRecord]:
        """The runs of the Runs tab that --resume would take: a checkpoint in their folder."""
        return [r for r in self.comparison.records
                if r.path and RunDir(r.path).checkpoint_path.is_file()]

    def resume(self, record: RunRecord, refusal: str | None) -> None:
        """Make Start resume `record`'s run, as `smtui --resume` would: the form takes the
        checkpoint's settings (and says so), and the run's own rules apply when it starts
        (what may change, what is refused). `refusal`: why this mode resumes nothing."""
        assert self.panels is not None
        if refusal or self.state.running:
            self.app.notify("Stop the run going on first (x)." if self.state.running else
                            refusal, severity="warning")
            return
        if not record.path or not RunDir(record.path).checkpoint_path.is_file():
            self.app.notify(f"{record.label}: no checkpoint to resume from.",
                            severity="warning", markup=False)
            return
        from ..core.config import TrainConfig
        from ..core.errors import SmtuiError
        from ..loop.resume import script_refusal
        from ..store.checkpoint import load_checkpoint
        try:
            problem = script_refusal(record.path)
            if problem:
                raise SmtuiError(problem)
            saved = load_checkpoint(record.path)
        except SmtuiError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        config, _ = TrainConfig.from_saved(saved.get("config", {}))
        self.state.resume = record.path
        form = self.panels.form
        form.set_values(config)
        form.resuming(record.path, int(saved.get("epoch", 0)), int(saved.get("batch", 0)))
        self.panels.tabs.active = "setup"
        # The Resume button, not a field: `s` resumes, as the form says, where a text field
        # would have taken the key as text.
        form.query_one("#start").focus()
        self.app.log_message(f"Start resumes the run in {record.path}.")
