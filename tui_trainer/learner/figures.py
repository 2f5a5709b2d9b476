"""The part of matplotlib the book's chapters 3-7 call through `d2l`, drawn in the terminal.

The book plots with `d2l.plot` (4.1's activations and their gradients), `d2l.set_axes`,
`d2l.set_figsize`, and `d2l.plt`: `plt.scatter` (3.2), `plt.subplots` with `imshow` and
`set_title` (3.5's `show_images`, written by the learner), `plt.gca`. In a notebook a figure
appears when its cell ends; a script has no cells, so here a figure is drawn when the book's
`plot` returns, when the program calls `plt.show()`, when `IPython.display.display(fig)` prints
it, and, for any left undrawn, when the program exits. Lines go through `drawing.Plot` (cut at
the limits, log axes), images through `drawing.image_grid`.
"""

from __future__ import annotations

import atexit
from typing import Any

import numpy as np

from .drawing import Plot, image_grid


def _values(a: Any) -> list[float]:
    """A tensor, array or list as floats (a tensor that requires grad is detached)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return [float(v) for v in np.asarray(a, dtype=float).reshape(-1)]


class _Axis:
    """What `ax.axes.get_xaxis()` returns: `set_visible` only (the book hides image axes)."""

    def set_visible(self, visible: bool) -> None:
        self.visible = visible


class Axes:
    """The calls the book makes on a matplotlib Axes, remembered to be drawn."""

    def __init__(self, figure: Figure) -> None:
        self.figure = figure
        self.cla()

    def cla(self) -> None:
        """Clear what was drawn and set (the book's Animator and `plot` start with it)."""
        self.lines: list[tuple[list[float], list[float], str]] = []   # x, y, kind
        self.images: list[Any] = []
        self.names: list[str] = []
        self.title: str | None = None
        self.xlabel: Any = None
        self.ylabel: Any = None
        self.xlim: list[float] | None = None
        self.ylim: list[float] | None = None
        self.xscale = self.yscale = "linear"

    @property
    def axes(self) -> Axes:
        return self

    def get_xaxis(self) -> _Axis:
        return _Axis()

    get_yaxis = get_xaxis

    def plot(self, *args: Any, **kw: Any) -> list:
        """`plot(y)`, `plot(y, fmt)`, `plot(x, y)`, `plot(x, y, fmt)`, as matplotlib reads them."""
        data = [a for a in args if not isinstance(a, str)]   # formats: the terminal's colours
        x, y = (data[0], data[1]) if len(data) >= 2 else (None, data[0])
        ys = _values(y)
        xs = _values(x) if x is not None else [float(i) for i in range(len(ys))]
        self.lines.append((xs, ys, "line"))
        if kw.get("label"):
            self.names.append(str(kw["label"]))
        self.figure.pending = True
        return []

    def scatter(self, x: Any, y: Any, *args: Any, **kw: Any) -> None:
        self.lines.append((_values(x), _values(y), "scatter"))
        self.figure.pending = True

    def imshow(self, img: Any, *args: Any, **kw: Any) -> None:
        import torch
        self.images.append(torch.as_tensor(np.asarray(
            img.detach().cpu() if hasattr(img, "detach") else img, dtype=float)))
        self.figure.pending = True

    def set_title(self, title: Any, *args: Any, **kw: Any) -> None:
        self.title = str(title)

    def set_xlabel(self, label: Any, *args: Any, **kw: Any) -> None:
        self.xlabel = label

    def set_ylabel(self, label: Any, *args: Any, **kw: Any) -> None:
        self.ylabel = label

    def set_xlim(self, *lim: Any, **kw: Any) -> None:
        self.xlim = _limits(lim)

    def set_ylim(self, *lim: Any, **kw: Any) -> None:
        self.ylim = _limits(lim)

    def set_xscale(self, scale: str, *args: Any, **kw: Any) -> None:
        self.xscale = scale

    def set_yscale(self, scale: str, *args: Any, **kw: Any) -> None:
        self.yscale = scale

    def legend(self, names: Any = None, *args: Any, **kw: Any) -> None:
        if names:
            self.names = [str(n) for n in names]

    def grid(self, *args: Any, **kw: Any) -> None:
        """The book's grid: the terminal's figure keeps its ticks only."""

    def text(self, plain: bool = False) -> str | None:
        """This axes' lines as the text of a figure (`plain`: without colour codes); None when
        it has none."""
        if not self.lines:
            return None
        import shutil
        plot = Plot(self.xlabel, self.ylabel, self.xlim, self.ylim, self.xscale, self.yscale)
        names = [self.names[i] if i < len(self.names) else "" for i in range(len(self.lines))]
        width = min(shutil.get_terminal_size().columns, 100)
        return plot.build([x for x, _, _ in self.lines], [y for _, y, _ in self.lines], names,
                          width, kinds=[k for _, _, k in self.lines], title=self.title,
                          plain=plain)

    def summary(self) -> str | None:
        """This axes' lines in one line, for a log (no terminal)."""
        if not self.lines:
            return None
        parts = []
        for i, (xs, ys, _) in enumerate(self.lines):
            name = self.names[i] if i < len(self.names) else self.ylabel or f"y{i + 1}"
            finite = [v for v in ys if np.isfinite(v)] or [float("nan")]
            parts.append(f"{name}: {len(ys)} points, x {min(xs, default=0):g} to "
                         f"{max(xs, default=0):g}, y {min(finite):.4g} to {max(finite):.4g}")
        return (f"{self.title}: " if self.title else "figure: ") + "; ".join(parts)


def _limits(given: tuple) -> list[float] | None:
    """`set_xlim(None)`, `set_xlim([lo, hi])` or `set_xlim(lo, hi)`, as limits or None."""
    lim = given[0] if len(given) == 1 else given
    if lim is None or len(lim) != 2 or None in tuple(lim):
        return None
    return [float(lim[0]), float(lim[1])]


class Figure:
    """A figure of one or more Axes, drawn once when shown."""

    def __init__(self, nrows: int = 1, ncols: int = 1) -> None:
        self.ncols = ncols
        self.axes = [Axes(self) for _ in range(nrows * ncols)]
        self.pending = False   # something to draw that has not been drawn

    def text(self) -> str:
        """The figure as terminal text: its images in a grid, its line plots one below the
        other."""
        parts = [t for t in (ax.text() for ax in self.axes) if t]
        return "\n".join(parts)

    def show(self) -> None:
        """Draw the figure (to stdout), once: its images as the book's grid, its lines as
        plots; without a terminal, one line per plot and the images' titles."""
        from .drawing import BOTTOM, on_terminal
        from .notebook import in_notebook, show_text
        from ..core.console import SafeStream
        import sys

        BOTTOM.release()   # an Animator's figure stays above this one
        self.pending = False
        images = [(img, ax.title or "") for ax in self.axes for img in ax.images]
        if images:
            image_grid([img for img, _ in images], self.ncols, [t for _, t in images])
        out = SafeStream(sys.stdout)
        for ax in self.axes:
            if in_notebook():   # an output of the cell, as a notebook shows a figure
                text = ax.text(plain=True)
                if text:
                    show_text(text)
                continue
            line = ax.text() if on_terminal() else ax.summary()
            if line:
                out.write(line + "\n")

    def __repr__(self) -> str:
        """What `IPython.display.display(fig)` prints outside a notebook: the figure drawn (the
        book's own Animator displays its figure this way)."""
        self.pending = False
        return self.text() or f"<Figure of {len(self.axes)} axes>"


class Pyplot:
    """`d2l.plt`: the pyplot calls chapters 3-7 make, on a current figure."""

    def __init__(self) -> None:
        self.rcParams: dict[str, Any] = {"figure.figsize": (3.5, 2.5)}
        self.figures: list[Figure] = []

    def figure(self, *args: Any, **kw: Any) -> Figure:
        self.figures.append(Figure())
        return self.figures[-1]

    def gcf(self) -> Figure:
        return self.figures[-1] if self.figures else self.figure()

    def gca(self) -> Axes:
        return self.gcf().axes[0]

    def subplots(self, nrows: int = 1, ncols: int = 1, *args: Any, **kw: Any):
        """(figure, axes) with matplotlib's squeeze: one Axes, a row of them, or a grid."""
        figure = Figure(nrows, ncols)
        self.figures.append(figure)
        if nrows * ncols == 1:
            return figure, figure.axes[0]
        grid = np.empty((nrows, ncols), dtype=object)
        for i, ax in enumerate(figure.axes):
            grid[i // ncols, i % ncols] = ax
        return figure, grid.reshape(-1) if 1 in (nrows, ncols) else grid

    def plot(self, *args: Any, **kw: Any) -> list:
        return self.gca().plot(*args, **kw)

    def scatter(self, *args: Any, **kw: Any) -> None:
        self.gca().scatter(*args, **kw)

    def imshow(self, *args: Any, **kw: Any) -> None:
        self.gca().imshow(*args, **kw)

    def title(self, text: Any, *args: Any, **kw: Any) -> None:
        self.gca().set_title(text)

    def xlabel(self, text: Any, *args: Any, **kw: Any) -> None:
        self.gca().set_xlabel(text)

    def ylabel(self, text: Any, *args: Any, **kw: Any) -> None:
        self.gca().set_ylabel(text)

    def xlim(self, *lim: Any, **kw: Any) -> None:
        self.gca().set_xlim(*lim)

    def ylim(self, *lim: Any, **kw: Any) -> None:
        self.gca().set_ylim(*lim)

    def xscale(self, scale: str, *args: Any, **kw: Any) -> None:
        self.gca().set_xscale(scale)

    def yscale(self, scale: str, *args: Any, **kw: Any) -> None:
        self.gca().set_yscale(scale)

    def legend(self, names: Any = None, *args: Any, **kw: Any) -> None:
        self.gca().legend(names)

    def grid(self, *args: Any, **kw: Any) -> None:
        """Ticks only in the terminal."""

    def show(self, *args: Any, **kw: Any) -> None:
        """Draw every figure not drawn yet, and start afresh."""
        for figure in self.figures:
            if figure.pending:
                figure.show()
        self.figures.clear()

    def close(self, *args: Any, **kw: Any) -> None:
        self.figures.clear()


plt = Pyplot()
atexit.register(plt.show)   # a script's figures appear, as a notebook's do at its cell's end
