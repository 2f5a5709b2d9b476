"""Pictures on a plain terminal, for the drop-in `d2l` module: images in half blocks and line
plots (plotext), printed to stdout rather than drawn in the app.

A half block (▀) shows two pixel rows in one character: the upper pixel as its colour, the lower
as its background. Without a terminal, images are reduced to their titles and a plot to one line
of its latest values, so a script's log stays readable.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..core.console import SafeStream
from .notebook import BookFigure, Output, Shown, in_notebook, pyplot


def on_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _level(v: float) -> int:
    """A pixel in [0, 1] or [0, 255] as 0-255."""
    return max(0, min(255, int(round(float(v) * 255 if float(v) <= 1.0 else float(v)))))


def _grey(v: float) -> str:
    level = _level(v)
    return f"rgb({level},{level},{level})"


SHADES = " ░▒▓█"   # without colour (NO_COLOR): a pixel pair's mean brightness, dark to light


def no_colour() -> bool:
    """The user asked for no colour (https://no-color.org): drawings use shades and markers."""
    return bool(os.environ.get("NO_COLOR"))


def _pixel_pair(top: float, bottom: float) -> tuple[str, str | None]:
    """One character for two stacked pixels: a half block in two greys, or, without colour,
    the shade of their mean."""
    if no_colour():
        mean = (_level(top) + _level(bottom)) / 2
        return SHADES[min(len(SHADES) - 1, int(mean * len(SHADES) / 256))], None
    return "▀", f"{_grey(top)} on {_grey(bottom)}"


def image_grid(images: list, num_cols: int, titles: list[str] | None) -> None:
    """Print `images` (2-D tensors, values in [0, 1] or [0, 255]) in rows of `num_cols`, each
    titled below (a title may have several lines)."""
    BOTTOM.release()   # an Animator's figure stays above this one
    out = SafeStream(sys.stdout)
    titles = titles or [""] * len(images)
    if not on_terminal() and not in_notebook():   # a notebook's rich console draws HTML
        for start in range(0, len(images), num_cols):
            out.write("  ".join(t.replace("\n", " / ") for t in titles[start:start + num_cols])
                      + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout)
    width = max((img.shape[-1] for img in images), default=28) + 2
    num_cols = max(1, min(num_cols, console.width // width))   # rows that fit the terminal
    table = Table.grid(padding=(0, 2))
    for start in range(0, len(images), num_cols):
        cells = []
        for img, title in zip(images[start:start + num_cols], titles[start:start + num_cols]):
            rows = img.float().tolist()
            text = Text()
            for y in range(0, len(rows) - 1, 2):
                for top, bottom in zip(rows[y], rows[y + 1]):
                    text.append(*_pixel_pair(top, bottom))
                text.append("\n")
            text.append(str(title))
            cells.append(text)
        table.add_row(*cells)
    console.print(table)


def nonsingular(lo: float, hi: float) -> tuple[float, float]:
    """Limits with room between them: equal ones are widened as matplotlib widens them (a
    figure of one epoch has xlim [1, 1])."""
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo < 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = 0.05 * abs(lo) if lo else 0.5
        lo, hi = lo - pad, hi + pad
    return lo, hi


def clip_segment(p, q, box):
    """The part of the segment p-q inside box (x0, x1, y0, y1), or None (Liang-Barsky)."""
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for edge_p, edge_q in ((-dx, x0 - box[0]), (dx, box[1] - x0),
                           (-dy, y0 - box[2]), (dy, box[3] - y0)):
        if edge_p == 0:
            if edge_q < 0:
                return None
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return (x0 + t0 * dx, y0 + t0 * dy), (x0 + t1 * dx, y0 + t1 * dy)


def clip_line(points: list[tuple[float, float]], box) -> list[list[tuple[float, float]]]:
    """A polyline cut to `box` as matplotlib cuts a line at its axes: the pieces inside, each a
    list of points (a lone point inside is a piece of one)."""
    inside = lambda pt: box[0] <= pt[0] <= box[1] and box[2] <= pt[1] <= box[3]  # noqa: E731
    if len(points) == 1:
        return [points] if inside(points[0]) else []
    pieces: list[list[tuple[float, float]]] = []
    for p, q in zip(points, points[1:]):
        cut = clip_segment(p, q, box)
        if cut is None:
            continue
        if pieces and pieces[-1][-1] == cut[0]:
            pieces[-1].append(cut[1])
        else:
            pieces.append([cut[0], cut[1]])
    return pieces


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round values between lo and hi (1, 2 or 5 times a power of ten apart)."""
    import math
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 12))
        t += step
    return ticks


class Axis:
    """One axis of a plot: its scale (linear or log, drawn in log10 space) and limits."""

    def __init__(self, lim, scale: str) -> None:
        self.lim, self.log = lim, scale == "log"

    def to_plot(self, value: float) -> float | None:
        """`value` where it is drawn; None where a log axis cannot show it (<= 0)."""
        import math
        if not math.isfinite(value):
            return None
        if self.log:
            return math.log10(value) if value > 0 else None
        return value

    def limits(self, values: list[float]) -> tuple[float, float]:
        """The limits given (in drawing space), else those of the values."""
        if self.lim is not None:
            lo, hi = (self.to_plot(float(v)) for v in self.lim)
            if lo is not None and hi is not None:
                return nonsingular(lo, hi)
        return nonsingular(min(values, default=0.0), max(values, default=1.0))

    def ticks(self, lo: float, hi: float) -> tuple[list[float], list[str]]:
        """Tick positions and readable labels (`0.3`, `1e-03`, never `236.305917969`)."""
        if self.log:
            import math
            first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
            stride = max(1, (last - first) // 5 + 1)
            places = [float(p) for p in range(first, last + 1, stride)] or [lo]
            return places, [f"{10 ** p:g}" for p in places]
        places = nice_ticks(lo, hi)
        return places, [f"{p:g}" for p in places]


COLOURS = ("blue+", "magenta+", "green+", "red+", "cyan+", "yellow+")
MARKERS = ("braille", "•", "+", "x", "o", "*")   # the curves' marks without colour


class Plot:
    """A line plot redrawn in place on each `draw` (the book's Animator, in a terminal): the
    curves cut at the figure's limits as matplotlib cuts them, log axes drawn in log space."""

    def __init__(self, xlabel=None, ylabel=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", height: int = 16) -> None:
        self.xlabel, self.ylabel = xlabel, ylabel
        self.x, self.y = Axis(xlim, xscale), Axis(ylim, yscale)
        self.height = height
        self.out = SafeStream(sys.stdout)
        self.output = Output()   # in a notebook

    def curves(self, X, Y) -> list[list[tuple[float, float]]]:
        """Each curve's points in drawing space (what a log axis cannot show left out)."""
        curves = []
        for xs, ys in zip(X, Y):
            points = [(self.x.to_plot(a), self.y.to_plot(b)) for a, b in zip(xs, ys)]
            curves.append([(a, b) for a, b in points if a is not None and b is not None])
        return curves

    def build(self, X, Y, names: list[str], width: int, kinds: list[str] | None = None,
              title: str | None = None, plain: bool = False) -> str:
        """The figure as text; `kinds`: each curve a "line" (the default) or a "scatter";
        `plain`: without colour codes (as NO_COLOR asks too)."""
        import plotext as plt

        curves = self.curves(X, Y)
        kinds = kinds or ["line"] * len(curves)
        x0, x1 = self.x.limits([a for c in curves for a, _ in c])
        y0, y1 = self.y.limits([b for c in curves for _, b in c])
        plt.clear_figure()
        plt.plotsize(width, self.height)
        plt.theme("clear")
        plain = plain or no_colour()
        for i, (points, name) in enumerate(zip(curves, names)):
            colour = None if plain else COLOURS[i % len(COLOURS)]
            marker = MARKERS[i % len(MARKERS)] if plain else "braille"   # told apart by shape
            if kinds[i] == "scatter":
                inside = [(a, b) for a, b in points if x0 <= a <= x1 and y0 <= b <= y1]
                plt.scatter([a for a, _ in inside], [b for _, b in inside], marker=marker,
                            color=colour, label=name or None)
                continue
            for j, piece in enumerate(clip_line(points, (x0, x1, y0, y1))):
                plt.plot([a for a, _ in piece], [b for _, b in piece], marker=marker,
                         color=colour, label=(name or None) if j == 0 else None)
        plt.xlim(x0, x1)
        plt.ylim(y0, y1)
        plt.xticks(*self.x.ticks(x0, x1))
        plt.yticks(*self.y.ticks(y0, y1))
        if self.xlabel:
            plt.xlabel(self.xlabel)
        if self.ylabel:
            plt.ylabel(self.ylabel)
        if title:
            plt.title(title)
        return plt.uncolorize(plt.build()) if plain else plt.build()

    def draw(self, X: list[list[float]], Y: list[list[float]], legend: list[str],
             added: set[int] | None = None) -> None:
        """The curves again, in place on a terminal; elsewhere one line of the points just
        `added` (by index; None: every curve's last), never a curve's earlier value again
        (6.6's test accuracy is None inside an epoch: the line said the last epoch's)."""
        names = [legend[i] if i < len(legend) else f"y{i + 1}" for i in range(len(Y))]
        if in_notebook():   # one output of the cell, replaced at each draw
            self.output.show(Shown(self.build(X, Y, names, 100, plain=True)))
            return
        if not on_terminal():
            shown = [i for i in range(len(Y)) if Y[i] and (added is None or i in added)]
            if not shown:
                return
            x = X[shown[0]][-1]
            self.out.write(f"{self.xlabel or 'x'} {x:g}: " + "  ".join(
                f"{names[i]} {Y[i][-1]:.4f}" for i in shown) + "\n")
            return
        import shutil

        text = self.build(X, Y, names, min(shutil.get_terminal_size().columns, 100))
        BOTTOM.show(self, text)


def animated_figure(xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                    xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1,
                    ncols=1, figsize=(3.5, 2.5)) -> BookFigure | Plot:
    """The figure an Animator draws into (`draw(X, Y, legend, added)`): the book's, in
    matplotlib, in a notebook that has it; else a text plot (a terminal, a pipe, a notebook
    without matplotlib)."""
    if pyplot() is not None:
        return BookFigure(xlabel, ylabel, legend, xlim, ylim, xscale, yscale, fmts, nrows,
                          ncols, figsize)
    return Plot(xlabel, ylabel, xlim, ylim, xscale, yscale)


class BottomFigure:
    """The figure an Animator redraws, kept below whatever the program prints meanwhile.

    Redrawn in place by moving the cursor up over it, a figure erased any line printed after
    it (3.3's loop prints each epoch's loss): one of six lines was left, over six stacked
    figure tops. Here the figure is rich's `Live` display, which takes stdout and stderr while
    it lasts and writes each printed line above the figure, then the figure again. One figure
    at a time: any other drawing (a new Animator, `plot`, `show_images`), the app of a live
    `train_ch3`, and the program's exit leave the last one where it is, drawn."""

    def __init__(self) -> None:
        self.owner: object | None = None
        self.live: Any = None   # rich.live.Live, imported when a figure is first drawn
        self.registered = False

    def show(self, owner: object, text: str) -> None:
        """Draw `owner`'s figure (plotext's text) at the bottom: in place when it is the
        figure there, else below the one there, which stays as it was."""
        from rich.text import Text

        figure = Text.from_ansi(text)
        if self.live is not None and self.owner is owner:
            self.live.update(figure, refresh=True)
            return
        self.release()
        from rich.console import Console
        from rich.live import Live

        # Drawn only where stdout is a terminal (on_terminal), so the console is one
        self.live = Live(figure, console=Console(file=sys.stdout, force_terminal=True),
                         auto_refresh=False,
                         redirect_stdout=True, redirect_stderr=True)
        self.owner = owner
        self.live.start(refresh=True)
        if not self.registered:
            import atexit
            atexit.register(self.release)
            self.registered = True

    def release(self) -> None:
        """Leave the figure at the bottom where it is, and stdout and stderr as they were."""
        live, self.live, self.owner = self.live, None, None
        if live is not None:
            try:
                live.stop()
            except (OSError, ValueError):   # the terminal is gone: nothing left to restore
                pass


BOTTOM = BottomFigure()
