"""Pictures on a plain terminal, for the drop-in `d2l` module: images in half blocks and line
plots (plotext), printed to stdout rather than drawn in the app.

A half block (▀) shows two pixel rows in one character: the upper pixel as its colour, the lower
as its background. Without a terminal, images are reduced to their titles and a plot to one line
of its latest values, so a script's log stays readable.
"""

from __future__ import annotations

import sys

from .console import SafeStream


def _terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _grey(v: float) -> str:
    level = max(0, min(255, int(round(float(v) * 255 if float(v) <= 1.0 else float(v)))))
    return f"rgb({level},{level},{level})"


def image_grid(images: list, num_cols: int, titles: list[str] | None) -> None:
    """Print `images` (2-D tensors, values in [0, 1] or [0, 255]) in rows of `num_cols`, each
    titled below (a title may have several lines)."""
    out = SafeStream(sys.stdout)
    titles = titles or [""] * len(images)
    if not _terminal():
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
                    text.append("▀", style=f"{_grey(top)} on {_grey(bottom)}")
                text.append("\n")
            text.append(str(title))
            cells.append(text)
        table.add_row(*cells)
    console.print(table)


class Plot:
    """A line plot redrawn in place on each `draw` (the book's Animator, in a terminal)."""

    def __init__(self, xlabel=None, ylabel=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", height: int = 16) -> None:
        self.xlabel, self.ylabel, self.xlim, self.ylim = xlabel, ylabel, xlim, ylim
        self.xscale, self.yscale = xscale, yscale
        self.height = height
        self.drawn_lines = 0
        self.out = SafeStream(sys.stdout)

    def draw(self, X: list[list[float]], Y: list[list[float]], legend: list[str]) -> None:
        names = [legend[i] if i < len(legend) else f"y{i + 1}" for i in range(len(Y))]
        if not _terminal():
            x = next((xs[-1] for xs in X if xs), None)
            self.out.write(f"{self.xlabel or 'x'} {x:g}: " + "  ".join(
                f"{name} {ys[-1]:.4f}" for name, ys in zip(names, Y) if ys) + "\n")
            return
        import shutil

        import plotext as plt

        plt.clear_figure()
        plt.plotsize(min(shutil.get_terminal_size().columns, 100), self.height)
        plt.theme("clear")
        for xs, ys, name in zip(X, Y, names):
            if xs:
                plt.plot(xs, ys, label=name, marker="braille")
        if self.xlim:
            plt.xlim(*self.xlim)
        if self.ylim:
            plt.ylim(*self.ylim)
        if self.xscale == "log":
            plt.xscale("log")
        if self.yscale == "log":
            plt.yscale("log")
        if self.xlabel:
            plt.xlabel(self.xlabel)
        if self.ylabel:
            plt.ylabel(self.ylabel)
        text = plt.build()
        up = f"\x1b[{self.drawn_lines}F\x1b[J" if self.drawn_lines else ""
        self.out.write(up + text + "\n")
        self.drawn_lines = text.count("\n") + 1
