"""The curves panel: the book's Animator (train loss, train acc, test acc) drawn with plotext.

Points inside an epoch sit at fractional epochs, as in the book's later trainers. The panel keeps
every point but draws at most `MAX_POINTS` per series (plotext's drawing time grows with points),
drops non-finite values (plotext raises on inf), and redraws only when asked, so the app can cap
the redraw rate.
"""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

MAX_POINTS = 240


def downsample(xs: list[float], ys: list[float], limit: int = MAX_POINTS) -> tuple[list, list]:
    """Keep at most `limit` finite points, evenly spaced, always keeping the last one."""
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    if len(pts) > limit:
        step = len(pts) / limit
        pts = [pts[int(i * step)] for i in range(limit - 1)] + [pts[-1]]
    return [p[0] for p in pts], [p[1] for p in pts]


class CurvesPanel(PlotextPlot):
    """Live training curves with a legend and a y range that fits losses and accuracies."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.epochs = 10
        self.overlays: list[tuple[str, list[float], list[float]]] = []  # other runs, for comparison
        self.dirty = True

    def reset(self, epochs: int) -> None:
        """Forget every point; the x axis spans `epochs`."""
        self.series = {"train loss": ([], []), "train acc": ([], []), "test acc": ([], [])}
        self.epochs = epochs
        self.dirty = True

    def add(self, name: str, x: float, y: float) -> None:
        """Add one point to a series."""
        xs, ys = self.series.setdefault(name, ([], []))
        xs.append(x)
        ys.append(y)
        self.dirty = True

    def redraw(self) -> None:
        """Draw the series now if anything changed since the last draw."""
        if not self.dirty:
            return
        self.dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("train loss, train acc, test acc")
        plt.xlabel("epoch")
        top = 1.0
        colors = {"train loss": "blue", "train acc": "magenta+", "test acc": "green"}
        for name, (xs, ys) in self.series.items():
            xs, ys = downsample(xs, ys)
            if not xs:
                continue
            if name == "train loss":
                top = max(top, min(max(ys), 2.5))
                ys = [min(y, 2.5) for y in ys]
            marker = "hd" if name != "test acc" else "dot"
            plt.plot(xs, ys, label=name, color=colors.get(name), marker=marker)
        for label, xs, ys in self.overlays:
            xs, ys = downsample(xs, ys)
            if xs:
                plt.plot(xs, ys, label=label, marker="dot")
        plt.xlim(0, max(1, self.epochs))
        plt.ylim(0, top)
        self.refresh()
