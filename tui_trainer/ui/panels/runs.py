"""The runs tab: every run of this session and every run named on the command line, side by side.

Each row is one run's config and results. The curves tab overlays their test accuracy when the
overlay is on (`o`), so trying one learning rate against another is one keystroke away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from ...store.catalog import RunSummary, matching
from ...core.config import model_label

# Compact enough for 80 columns: the recipe in one column ("scratch sgd", "+naive", "+cos").
COLUMNS = ("run", "recipe", "lr", "batch", "ep", "test acc", "best", "status")
# The field each column sorts by (catalog.sorted_runs): a click on its header.
SORTED_BY = ("run", "recipe", "lr", "batch_size", "epochs_done", "test_acc", "best_test_acc",
             "state")


class RunRecord(RunSummary):
    """What the runs tab and the overlay know of one run: the core's summary, with the short
    forms a table of 80 columns and a legend need."""

    @property
    def label(self) -> str:
        """For the table: the run's name (--name), else its directory's name without the
        year (20261124-181533-mlp -> 1124-181533-mlp): over weeks of runs the day tells them
        apart, and two runs started at the same time on two days stay two rows."""
        if self.given_name:
            return self.given_name
        head, _, rest = self.name.partition("-")
        return f"{head[4:]}-{rest}" if head.isdigit() and len(head) == 8 and rest \
            else self.name[-24:]

    @property
    def recipe(self) -> str:
        """Model and optimizer, with what departs from the book's softmax and schedule."""
        c = self.config
        text = f"{model_label(c.get('model', '?'))} {c.get('optimizer', '?')}"
        if c.get("softmax") == "naive":
            text += " +naive"
        if c.get("schedule") not in (None, "constant"):
            text += " +cos" if c.get("schedule") == "cosine" else f" +{c.get('schedule')}"
        return text

    @property
    def short_name(self) -> str:
        """The run's --name, else its name without its date (20261124-045518-mlp ->
        045518-mlp), for legends."""
        if self.given_name:
            return self.given_name
        head, _, rest = self.name.partition("-")
        return rest if head.isdigit() and len(head) == 8 and rest else self.name[-20:]


@dataclass
class SweepCurves:
    """A learning-rate sweep's test accuracy, one curve per rate, named by its rate."""

    lrs: list[float]
    epochs: list[list[float]] = field(default_factory=list)
    test_acc: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.epochs = [[] for _ in self.lrs]
        self.test_acc = [[] for _ in self.lrs]

    def add(self, rows: list[dict | None]) -> None:
        """An epoch's rows (None for a model that has stopped)."""
        for k, row in enumerate(rows):
            if row is not None:
                self.epochs[k].append(float(row["epoch"]))
                self.test_acc[k].append(row["test_acc"])

    def overlays(self) -> list[tuple[str, list[float], list[float]]]:
        return [(f"lr {lr:g}", xs, ys) for lr, xs, ys in zip(self.lrs, self.epochs, self.test_acc)]


def _cell(value) -> Text:
    """A table cell shown literally: run names and configs come from files, not from smtui."""
    if isinstance(value, float):
        value = f"{value:g}"
    return Text("–" if value is None else str(value))


@dataclass
class Comparison:
    """The compared runs and how they are shown: one object, handed to the Runs panel that
    lists them and read by the overlay that draws them."""

    records: list[RunRecord] = field(default_factory=list)   # every run of the Runs tab
    overlay: bool = False             # their curves on the plot (o)
    run_filter: list = field(default_factory=list)   # the Runs tab's filter (parse_filter)
    pinned: set[str] = field(default_factory=set)    # runs drawn first, whatever their rank
    hidden: set[str] = field(default_factory=set)    # runs left off the plot
    metric: str = "test acc"          # or "train loss" (v)
    order: tuple[str, bool] | None = None   # (field, largest first) the tab is sorted by

    def sort_by(self, key: str) -> tuple[str, bool]:
        """A click on a column: sort by it, the largest first for a number; again, the other
        way. Returns the order now."""
        descending = key in ("lr", "batch_size", "epochs_done", "test_acc", "best_test_acc")
        if self.order and self.order[0] == key:
            descending = not self.order[1]
        self.order = (key, descending)
        return self.order

    def add(self, records: list[RunRecord]) -> None:
        """List `records`, each once: a run already listed (the same directory: a run found
        in the --out folder, then resumed and finished here) is replaced by its newer record,
        in its place, so no run is drawn against itself."""
        for record in records:
            at = next((i for i, r in enumerate(self.records) if r.key == record.key), None)
            if at is None:
                self.records.append(record)
            else:
                self.records[at] = record

    def toggle_metric(self) -> str:
        """v: the other metric; returns it."""
        self.metric = "train loss" if self.metric == "test acc" else "test acc"
        return self.metric

    def toggle_mark(self, key: str, mark: str) -> None:
        """p or h: pin or unpin, hide or show the run `key`."""
        (self.pinned if mark == "pin" else self.hidden).symmetric_difference_update({key})

    def overlaid(self, exclude: set[str], loss: bool) -> list[RunRecord]:
        """The runs the overlay may draw, pinned first, then the best (lowest train loss with
        `loss`, else highest test accuracy): those the filter keeps, not hidden, not named in
        `exclude` (a sweep's own runs, drawn as its curves), with points to draw."""
        if not self.overlay:
            return []
        runs = [r for r in matching(self.records, self.run_filter)
                if r.name not in exclude and r.key not in self.hidden
                and (r.train_loss if loss else r.test_acc)]
        runs.sort(key=lambda r: (r.key not in self.pinned,
                                 min(r.train_loss) if loss else -max(r.test_acc)))
        return runs


class RunsPanel(DataTable):
    """A table of runs with their configs and accuracies."""

    def __init__(self, comparison: Comparison, **kw) -> None:
        super().__init__(**kw)
        self.comparison = comparison
        self.records: list[RunRecord] = []   # the rows shown, in order

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*COLUMNS)

    class ResumeAsked(Message):
        """Enter (or a click) on a run's row: resume it, if it can be."""

        def __init__(self, record: RunRecord) -> None:
            super().__init__()
            self.record = record

    class SortAsked(Message):
        """A click on a column's header: sort the runs by it."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if 0 <= event.column_index < len(SORTED_BY):
            self.post_message(self.SortAsked(SORTED_BY[event.column_index]))

    class Marked(Message):
        """p or h on a run's row: pin it or hide it."""

        def __init__(self, record: RunRecord, mark: str) -> None:
            super().__init__()
            self.record, self.mark = record, mark

    BINDINGS = [Binding("p", "mark('pin')", "pin"), Binding("h", "mark('hide')", "hide")]

    def action_mark(self, mark: str) -> None:
        if 0 <= self.cursor_row < len(self.records):
            self.post_message(self.Marked(self.records[self.cursor_row], mark))

    def show(self, records: list[RunRecord]) -> None:
        """Replace the rows, the pinned runs first (marked *, as they are drawn first); a hidden
        run's name is marked -."""
        pinned, hidden = self.comparison.pinned, self.comparison.hidden
        row = self.cursor_row
        at = self.records[row].key if 0 <= row < len(self.records) else None
        self.clear()
        self.records = sorted(records, key=lambda r: r.key not in pinned)   # stable
        row = next((i for i, r in enumerate(self.records) if r.key == at), row)   # it follows
        for r in self.records:
            c = r.config
            mark = "*" if r.key in pinned else "-" if r.key in hidden else ""
            self.add_row(*map(_cell, (
                mark + r.label, r.recipe, c.get("lr"), c.get("batch_size"),
                f"{len(r.epochs)}/{c.get('epochs') or '?'}",   # done of planned, as `runs`
                f"{r.test_acc[-1]:.4f}" if r.test_acc else "–",
                f"{max(r.test_acc):.4f}" if r.test_acc else "–", r.status)))
        if self.records:
            self.move_cursor(row=min(row, len(self.records) - 1))   # a pin or a filter keeps it

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.records):
            self.post_message(self.ResumeAsked(self.records[event.cursor_row]))
