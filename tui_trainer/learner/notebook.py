"""The drop-in in a Jupyter notebook: figures as the book's notebooks show them.

In a terminal the drop-in draws with text (drawing.py, figures.py); in a notebook a figure is
an output of its cell. Where matplotlib is installed, `d2l.plt` is matplotlib's pyplot and the
figures are the book's own code (`plot`, `show_images`, `Animator`), drawn inline as SVG; where
it is not, the same text figures are the cell's outputs. An Animator, and `train_ch3`'s figure,
is one output updated in place (a display handle) rather than the book's display and
`clear_output`, which also wiped what the cell printed.
"""

from __future__ import annotations

import sys
from typing import Any


def in_notebook() -> bool:
    """A Jupyter kernel runs this program (not the terminal's IPython, which has a terminal)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:   # an IPython too old or too broken to say
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def pyplot() -> Any | None:
    """matplotlib's pyplot in a notebook where matplotlib is installed; None elsewhere."""
    if not in_notebook():
        return None
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def use_svg_display() -> None:
    """The book's setting: figures as SVG in the notebook (nothing to do elsewhere)."""
    if pyplot() is None:
        return
    try:
        from matplotlib_inline import backend_inline
        backend_inline.set_matplotlib_formats("svg")
    except ImportError:   # an older IPython keeps its own inline backend: PNG then
        pass


class Shown:
    """What a notebook cell shows: text, as its plain-text output."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Output:
    """One output of the cell, shown at the first `show` and replaced in place after."""

    def __init__(self) -> None:
        self.handle: Any = None

    def show(self, thing: Any) -> None:
        from IPython.display import display
        if self.handle is None:
            self.handle = display(thing, display_id=True)
        else:
            self.handle.update(thing)


def show_text(text: str) -> None:
    """A text figure as an output of the cell."""
    Output().show(Shown(text))


class BookFigure:
    """The book's Animator figure, in matplotlib: its subplots, formats and axes settings,
    redrawn on each `draw` into one output of the cell."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1,
                 ncols=1, figsize=(3.5, 2.5)) -> None:
        plt = pyplot()
        assert plt is not None, "BookFigure is for a notebook with matplotlib"
        use_svg_display()
        self.fig, axes = plt.subplots(nrows, ncols, figsize=figsize)
        plt.close(self.fig)   # shown by its output, not again when the cell ends
        self.axes = [axes] if nrows * ncols == 1 else list(axes.flatten())
        self.settings = (xlabel, ylabel, xlim, ylim, xscale, yscale, list(legend or []))
        self.fmts = fmts
        self.output = Output()

    def draw(self, X: list[list[float]], Y: list[list[float]], legend: list[str],
             added: set[int] | None = None) -> None:
        axes = self.axes[0]
        axes.cla()
        for x, y, fmt in zip(X, Y, self.fmts):
            axes.plot(x, y, fmt)
        set_axes(axes, *self.settings)
        self.output.show(self.fig)


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend) -> None:
    """The book's axes settings (matplotlib's, or the terminal's figures')."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def show_images(plt, imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.5):
    """The book's `show_images`, in matplotlib."""
    import torch

    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize)
    axes = axes.flatten() if hasattr(axes, "flatten") else [axes]
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        if torch.is_tensor(img):
            ax.imshow(img.detach().cpu().numpy())
        else:
            ax.imshow(img)
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    plt.show()
    return axes
