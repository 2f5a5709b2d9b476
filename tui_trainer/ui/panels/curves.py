"""The curves panel: the book's Animator (train loss, train acc, test acc) drawn with plotext.

Points inside an epoch sit at fractional epochs, as in the book's later trainers. The panel keeps
every point but draws at most `MAX_POINTS` per series (plotext's drawing time grows with points),
drops non-finite values (plotext raises on inf), and redraws only when asked, so the app can cap
the redraw rate.

Both y axes are fitted to what matters: after the first epoch a loss moves by tenths and an
accuracy by hundredths, so each axis spans the values from epoch 1 on, and the first batches'
larger loss (log 10 = 2.3) and lower accuracy are drawn at the axis's edge. The legend is not
drawn inside the plot, where it hid curves: `legend()` gives one line of coloured names for a
widget below it.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual_plotext import PlotextPlot

MAX_POINTS = 120
LOSS_CAP = 2.5   # the first batches' loss (log 10 = 2.3) fits; a diverging loss is clipped

# Colours as RGB, given alike to plotext and to the legend (named terminal colours are mapped
# through the theme and would not match).
OWN = {"train loss": ((90, 140, 255), "left"), "train acc": ((220, 100, 220), "right"),
       "test acc": ((90, 210, 90), "right")}
OVERLAY_COLOURS = [(80, 220, 230), (240, 210, 60), (250, 110, 80), (230, 230, 230),
                   (160, 120, 250), (250, 160, 200), (255, 150, 40), (190, 190, 90),
                   (120, 240, 190), (220, 80, 140)]   # ten: a sweep of 8 rates has no repeat


def rgb(colour: tuple[int, int, int]) -> str:
    """A Rich colour for an RGB tuple."""
    return "rgb({},{},{})".format(*colour)


def downsample(xs: list[float], ys: list[float], limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most `limit` finite points, in order: the first and the last, and of each of
    (limit - 2) / 2 runs of consecutive points, its lowest and its highest. Every extreme a
    curve reaches is drawn: evenly spaced points missed a 5,000-epoch run's best accuracy,
    which the runs table showed."""
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    if len(pts) > limit:
        inner, buckets = pts[1:-1], max(1, (limit - 2) // 2)
        size = len(inner) / buckets
        kept = [pts[0]]
        for b in range(buckets):
            bucket = inner[int(b * size):int((b + 1) * size)]
            if not bucket:
                continue
            low = min(range(len(bucket)), key=lambda i: bucket[i][1])
            high = max(range(len(bucket)), key=lambda i: bucket[i][1])
            kept += [bucket[i] for i in sorted({low, high})]
        pts = kept + [pts[-1]]
    return [p[0] for p in pts], [p[1] for p in pts]


def fitted_range(values: list[float], floor: float, ceiling: float, step: float = 0.05,
                 least: float = 0.1) -> tuple[float, float]:
    """An axis range around `values`, on a grid of `step`, at least `least` tall, inside
    [floor, ceiling]."""
    low = max(floor, math.floor((min(values) - 0.4 * step) / step) * step)
    high = min(ceiling, math.ceil((max(values) + 0.4 * step) / step) * step)
    if high - low < least:
        low = max(floor, high - least)
        high = min(ceiling, max(high, low + least))
    return round(low, 10), round(high, 10)


class CurvesPanel(PlotextPlot):
    """Live training curves with a y range that fits losses and accuracies."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.epochs = 10
        self.overlays: list[tuple[str, list[float], list[float]]] = []  # other runs, for comparison
        self.overlay_side = "right"   # their accuracies; "left" for their losses
        self.more = 0                 # runs to compare that are not drawn (the legend says so)
        self.dirty = True
        self.version = 0          # counts changes, for views that mirror this panel

    def reset(self, epochs: int) -> None:
        """Forget every point; the x axis spans `epochs`."""
        self.series = {"train loss": ([], []), "train acc": ([], []), "test acc": ([], [])}
        self.epochs = epochs
        self.dirty = True
        self.version += 1

    def add(self, name: str, x: float, y: float) -> None:
        """Add one point to a series."""
        xs, ys = self.series.setdefault(name, ([], []))
        xs.append(x)
        ys.append(y)
        self.dirty = True
        self.version += 1

    def _settled(self, names: tuple[str, ...]) -> list[float]:
        """The finite values of these series from epoch 1 on (all of them before that)."""
        points = [(x, y) for name in names for x, y in zip(*self.series.get(name, ([], [])))
                  if math.isfinite(y)]
        later = [y for x, y in points if x >= 1]
        return later or [y for _, y in points]

    def accuracy_range(self) -> tuple[float, float]:
        """The right axis: fitted to the accuracies after the first epoch (to 0.05), so train
        and test accuracy, a point or two apart, do not fall into the same character row."""
        values = [y for name in ("train acc", "test acc") for x, y in zip(*self.series.get(
            name, ([], []))) if x >= 1 and math.isfinite(y)]
        if self.overlay_side == "right":
            values += [y for _, _, ys in self.overlays for y in ys if math.isfinite(y)]
        if not values:
            return 0.3, 1.0
        return fitted_range(values, 0.0, 1.0)

    def loss_range(self) -> tuple[float, float]:
        """The left axis: fitted to the loss from epoch 1 on; 0 to the first batches' loss
        before that."""
        values = [min(y, LOSS_CAP) for y in self._settled(("train loss",))]
        if self.overlay_side == "left":
            values += [min(y, LOSS_CAP) for _, _, ys in self.overlays for y in ys
                       if math.isfinite(y)]
        if not values:
            return 0.0, 1.0
        if all(x < 1 for x in self.series.get("train loss", ([], []))[0]) and not (
                self.overlay_side == "left" and self.overlays):
            return 0.0, max(1.0, math.ceil(max(values) * 10) / 10)
        return fitted_range(values, 0.0, LOSS_CAP, step=0.05, least=0.2)

    def span(self) -> float:
        """The x axis: this session's run's epochs while it has points, else the runs shown."""
        own = any(xs for xs, _ in self.series.values())
        others = [max(xs) for _, xs, _ in self.overlays if xs]
        if own or not others:
            return max([1, self.epochs] + others)
        return max(1, max(others))

    def legend(self) -> Text:
        """One line naming each curve in its colour (drawn below the plot, not over it)."""
        text = Text()
        for name, (xs, _) in self.series.items():
            if xs and name in OWN:
                colour, side = OWN[name]
                text.append("━━ ", style=rgb(colour))
                text.append(f"{name} ({side})  ")
        for i, (label, xs, _) in enumerate(self.overlays):
            if xs:
                text.append("━━ ", style=rgb(OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]))
                text.append(f"{label}  ")
        if self.more:
            text.append(f"+{self.more} more (Runs tab: filter, pin)", style="dim")
        return text

    def redraw(self) -> bool:
        """Draw the series now if anything changed since the last draw; True when it drew."""
        if not self.dirty:
            return False
        self.dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        own = any(xs for xs, _ in self.series.values())
        # Overlays alone (a sweep, smtui compare) are test accuracies: no loss to name.
        plt.title("loss (left axis) · accuracy (right axis)" if own or not self.overlays
                  else "test accuracy (right axis)" if self.overlay_side == "right"
                  else "train loss (left axis)")
        plt.xlabel("epoch")
        low_loss, high_loss = self.loss_range()
        low_acc, high_acc = self.accuracy_range()
        for name, (xs, ys) in self.series.items():
            xs, ys = downsample(xs, ys)
            if not xs:
                continue
            colour, side = OWN.get(name, (None, "right"))
            if side == "left":
                ys = [min(max(y, low_loss), high_loss) for y in ys]
            else:
                # Early accuracies below the axis sit on it instead of squashing the range.
                ys = [max(y, low_acc) for y in ys]
            plt.plot(xs, ys, color=colour, marker="braille", yside=side)
        for i, (_, xs, ys) in enumerate(self.overlays):
            xs, ys = downsample(xs, ys)
            if xs:
                ys = [max(y, low_acc) for y in ys] if self.overlay_side == "right" else \
                    [min(max(y, low_loss), high_loss) for y in ys]
                plt.plot(xs, ys, marker="braille", yside=self.overlay_side,
                         color=OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)])
        plt.xlim(0, self.span())
        plt.ylim(low_loss, high_loss, yside="left")  # type: ignore[arg-type]   # plotext's hint
        plt.ylim(low_acc, high_acc, yside="right")  # type: ignore[arg-type]   # is wrong
        self.refresh()
        return True
