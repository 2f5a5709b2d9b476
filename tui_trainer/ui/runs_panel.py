"""The runs tab: every run of this session and every run named on the command line, side by side.

Each row is one run's config and results. The curves tab overlays their test accuracy when the
overlay is on (`o`), so trying one learning rate against another is one keystroke away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textual.widgets import DataTable

from ..runs import RunDir

COLUMNS = ("run", "model", "softmax", "optimizer", "lr", "batch", "epochs", "schedule",
           "test acc", "best", "status")


@dataclass
class RunRecord:
    """What the runs tab and the overlay know of one run."""

    name: str
    config: dict
    epochs: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    status: str = ""

    @property
    def short_name(self) -> str:
        """The run's name without its date (20261124-045518-mlp -> 045518-mlp), for legends."""
        head, _, rest = self.name.partition("-")
        return rest if head.isdigit() and len(head) == 8 and rest else self.name[-20:]

    @classmethod
    def from_dir(cls, path: str | Path) -> RunRecord:
        """Read a run directory (config.json, metrics.jsonl, status.json)."""
        run = RunDir(Path(path))
        rows = run.read_metrics()
        return cls(run.path.name, run.read_config(), [r["epoch"] for r in rows],
                   [r["test_acc"] for r in rows], run.read_status().get("state", ""))


class RunsPanel(DataTable):
    """A table of runs with their configs and accuracies."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*COLUMNS)

    def show(self, records: list[RunRecord]) -> None:
        """Replace the rows."""
        self.clear()
        for r in records:
            c = r.config
            self.add_row(r.name, c.get("model", "?"), c.get("softmax", "?"),
                         c.get("optimizer", "?"), f"{c.get('lr', 0):g}", str(c.get("batch_size")),
                         str(c.get("epochs")), c.get("schedule", "constant"),
                         f"{r.test_acc[-1]:.4f}" if r.test_acc else "–",
                         f"{max(r.test_acc):.4f}" if r.test_acc else "–", r.status)
