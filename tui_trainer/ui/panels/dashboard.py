"""The Train view: on a big terminal, the design's panels on screen together.

From 140x40 up the app shows a Train tab: the live curves, a strip of sample predictions with the
selected image's probability bars, and the run's key settings, side by side, so a run can be
watched without switching tabs. Smaller terminals keep the tabs alone (the Train tab is hidden).
Its widgets are second views of the same data: the curves mirror the Curves tab's series (drawn
only while the Train tab is shown) and the strip is a second predictions panel.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from .curves import CurvesPanel
from .predictions import PredictionsPanel

DASH_W, DASH_H = 140, 40


class MirrorCurves(CurvesPanel):
    """A second drawing of another CurvesPanel's series."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.seen_version = -1

    def follow(self, source: CurvesPanel) -> bool:
        """Take the source's data when it changed; True when it did."""
        if source.version == self.seen_version:
            return False
        self.series, self.overlays, self.epochs = source.series, source.overlays, source.epochs
        self.overlay_side, self.more = source.overlay_side, source.more
        self.seen_version = source.version
        self.dirty = True
        return True


def settings_text(config: dict, state: str, run_dir: str | None, threads: str = "") -> Table:
    """The run's key settings as a two-column table."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    rows = [
        ("state", state),
        ("model", f"{config.get('model')} ({config.get('softmax')} softmax)"),
        ("optimizer", f"{config.get('optimizer')}, lr {config.get('lr')}"
                      + (f", wd {config.get('weight_decay')}" if config.get("weight_decay")
                         else "")),
        ("batch", str(config.get("batch_size"))),
        ("epochs", str(config.get("epochs"))),
        ("schedule", str(config.get("schedule"))),
        ("loader", str(config.get("loader"))),
        ("device", str(config.get("device")) + (f", {threads}" if threads else "")),
        ("seed", str(config.get("seed"))),
        ("run", run_dir or "–"),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))   # paths and values shown literally
    return table


class TrainView(Vertical):
    """Curves and settings above, the predictions strip below."""

    DEFAULT_CSS = """
    TrainView { height: 1fr; }
    TrainView #dash-top { height: 1fr; }
    TrainView #dash-plot { width: 1fr; }
    TrainView MirrorCurves { height: 1fr; }
    TrainView #dash-legend { height: auto; padding: 0 1; }
    TrainView #dash-settings { width: 44; padding: 1 1; border-left: solid $panel-lighten-2; }
    TrainView #dash-preds { height: 16; border-top: solid $panel-lighten-2; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="dash-top"):
            with Vertical(id="dash-plot"):
                yield MirrorCurves(id="dash-curves")
                yield Static("", id="dash-legend")
            yield Static("", id="dash-settings")
        yield PredictionsPanel(id="dash-preds")
