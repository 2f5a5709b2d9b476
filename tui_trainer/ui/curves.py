"""The curves panel: the book's Animator (train loss, train acc, test acc) drawn with plotext.

Points inside an epoch sit at fractional epochs, as in the book's later trainers. The panel keeps
every point but draws at most `MAX_POINTS` per series (plotext's drawing time grows with points),
drops non-finite values (plotext raises on inf), and redraws only when asked, so the app can cap
the redraw rate.
"""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

MAX_POINTS = 120
LOSS_CAP = 2.5   # the first batches' loss (log 10 = 2.3) fits; a diverging loss is clipped


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

    def accuracy_range(self) -> tuple[float, float]:
        """The right axis: fitted to the accuracies after the first epoch (to 0.05), so train
        and test accuracy, a point or two apart, do not fall into the same character row."""
        values = [y for name in ("train acc", "test acc") for x, y in zip(*self.series.get(
            name, ([], []))) if x >= 1 and math.isfinite(y)]
        values += [y for _, _, ys in self.overlays for y in ys if math.isfinite(y)]
        if not values:
            return 0.3, 1.0
        low = max(0.0, math.floor((min(values) - 0.02) * 20) / 20)
        high = min(1.0, math.ceil((max(values) + 0.02) * 20) / 20)
        return (max(0.0, high - 0.1) if high - low < 0.1 else low), high

    def redraw(self) -> None:
        """Draw the series now if anything changed since the last draw."""
        if not self.dirty:
            return
        self.dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("loss (left axis) · accuracy (right axis)")
        plt.xlabel("epoch")
        top = 1.0
        low_acc, high_acc = self.accuracy_range()
        styles = {"train loss": ("left", "blue+"), "train acc": ("right", "magenta+"),
                  "test acc": ("right", "green+")}
        for name, (xs, ys) in self.series.items():
            xs, ys = downsample(xs, ys)
            if not xs:
                continue
            side, color = styles.get(name, ("right", None))
            if side == "left":
                top = max(top, min(max(ys), LOSS_CAP))
                ys = [min(y, LOSS_CAP) for y in ys]
            else:
                # The book's Animator starts its y axis at 0.3; early running accuracies
                # below it sit on the axis instead of squashing the interesting range.
                ys = [max(y, low_acc) for y in ys]
            plt.plot(xs, ys, label=name, color=color, marker="braille", yside=side)
        for label, xs, ys in self.overlays:
            xs, ys = downsample(xs, ys)
            if xs:
                plt.plot(xs, [max(y, low_acc) for y in ys], label=label, marker="braille",
                         yside="right")
        plt.xlim(0, max(1, self.epochs))
        plt.ylim(0, top, yside="left")
        plt.ylim(low_acc, high_acc, yside="right")
        self.refresh()
