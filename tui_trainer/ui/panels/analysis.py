"""The analysis tab: confusion matrix, per-class accuracy, top-k, and a decision rule.

The decision rule is the notes' exercise 4: answer only when the top probability reaches a
threshold, abstain otherwise. `+` and `-` move the threshold; the panel shows the coverage (the
fraction answered) and the accuracy on what is answered, next to the whole accuracy/coverage table.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from ...core.labels import TEXT_LABELS

SHORT = ("tshrt", "trous", "pullo", "dress", "coat", "sandl", "shirt", "snekr", "bag", "boot")


def rule_summary(rule: dict) -> str:
    """One line for a decision rule: what it answers, how well, and what it abstains on (the
    two shares are rounded once, so they add up to 100.0)."""
    if rule["accuracy"] is None:
        return "no test image reaches that confidence: it would abstain on all"
    answers = round(rule["coverage"] * 100, 1)
    return (f"answers {answers:.1f}% of the test images, accuracy on those "
            f"{rule['accuracy']:.4f}; abstains on {100 - answers:.1f}%")


class AnalysisPanel(VerticalScroll, can_focus=True):
    """Confusion matrix and decision rules for the latest test predictions."""

    BINDINGS = [Binding("plus,equals_sign", "threshold(0.05)", "threshold +", show=False),
                Binding("minus", "threshold(-0.05)", "threshold -", show=False)]
    threshold = reactive(0.9)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.probs = None
        self.labels = None
        self.stale = False
        self.rule: dict | None = None   # the decision rule's coverage and accuracy, as drawn

    def compose(self):
        yield Static(Text("No predictions yet: the analysis appears after the first epoch.",
                          style="dim"), id="analysis-body")

    def set_predictions(self, probs, labels) -> None:
        """New test probabilities; drawn now if the tab is shown, else when it is."""
        self.probs, self.labels = probs, labels
        if self.region.area > 0:
            self.redraw()
        else:
            self.stale = True

    def refresh_if_stale(self) -> None:
        """Draw predictions that arrived while the tab was hidden."""
        if self.stale:
            self.stale = False
            self.redraw()

    def clear(self) -> None:
        """Forget the predictions (after a reset)."""
        self.probs = self.labels = None
        self.stale = False
        self.query_one("#analysis-body", Static).update(Text("No predictions yet.", style="dim"))

    def action_threshold(self, step: float) -> None:
        """Move the confidence threshold of the reject option."""
        self.threshold = round(min(0.99, max(0.0, self.threshold + step)), 2)

    def watch_threshold(self) -> None:
        if self.probs is not None:
            self.redraw()

    def redraw(self) -> None:
        """Compute and draw everything from the stored probabilities."""
        from ...labs.analysis import (confusion_matrix, per_class_accuracy, reject_curve,
                                      topk_accuracy)

        if self.probs is None:
            return

        cm = confusion_matrix(self.probs, self.labels)
        per_class = per_class_accuracy(cm)
        # One space between columns, and short row names below 100 columns: the whole matrix
        # fits in 80 columns, no name cut or wrapped.
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)",
                       title_justify="left", box=None, padding=(0, 1), collapse_padding=True)
        matrix.add_column("", style="bold", no_wrap=True)
        names = TEXT_LABELS if self.size.width >= 100 else SHORT
        for name in SHORT:
            matrix.add_column(name, justify="right")
        matrix.add_column("acc", justify="right", style="bold")
        for i, row in enumerate(cm.tolist()):
            total = max(sum(row), 1)
            cells = []
            for j, count in enumerate(row):
                share = count / total
                style = "bold green" if i == j else ("red" if share > 0.1 else
                                                      ("yellow" if share > 0.03 else "dim"))
                cells.append(Text(str(count), style=style))
            matrix.add_row(names[i], *cells, f"{per_class[i]:.2f}")
        rule = self.rule = reject_curve(self.probs, self.labels, (self.threshold,))[0]
        curve = reject_curve(self.probs, self.labels)
        text = Text()
        text.append(f"top-1 {topk_accuracy(self.probs, self.labels, 1):.4f}   "
                    f"top-2 {topk_accuracy(self.probs, self.labels, 2):.4f}   "
                    f"top-3 {topk_accuracy(self.probs, self.labels, 3):.4f}\n\n", style="bold")
        text.append("decision rule: answer only when the top probability >= "
                    f"{self.threshold:.2f} (+/- to change)\n", style="bold")
        text.append(f"  {rule_summary(rule)}\n\n")
        text.append("threshold  coverage  accuracy\n", style="underline")
        for r in curve:
            acc = "–" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
            text.append(f"  {r['threshold']:>5.2f}    {r['coverage']:>6.1%}   {acc}\n")
        body = Table.grid(padding=(0, 4))
        body.add_row(matrix)
        body.add_row(text)
        self.query_one("#analysis-body", Static).update(body)
