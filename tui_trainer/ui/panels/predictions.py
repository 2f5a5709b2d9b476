"""The predictions panel: the book's predict_ch3, live. Test images drawn with half blocks.

Each image is pooled to 14x14 and drawn with the upper-half block: one character cell holds two
pixels (foreground = upper, background = lower), which any SSH terminal with colour shows. Under
each image, the true label and the prediction, green when right, red when wrong. The selected
image's 10 class probabilities are drawn as a bar chart beside the grid.

The grid is drawn line by line (Textual's line API) from segments built once per test image: a
grid of rich Text, with its thousand differently coloured cells, took tens of milliseconds of
the UI thread to convert at every epoch, time taken from the training thread.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from ...core.labels import TEXT_LABELS
from .strips import blank_strip, line_strip

CELL_W, CELL_H, IMG = 16, 10, 14   # cell size in characters; pooled image side in pixels
BLOCKS = " ▏▎▍▌▋▊▉█"


def halfblock_lines(pixels: Sequence[Sequence[float]], colour=None) -> list[list[Segment]]:
    """Rows of `pixels` as lines of segments, two pixel rows per line. `colour` maps a value
    to a Color (default: 0-255 grey)."""
    def grey(v: float) -> Color:
        return Color.from_rgb(v, v, v)

    colour = colour or grey
    return [[Segment("▀", Style(color=colour(top), bgcolor=colour(bottom)))
             for top, bottom in zip(pixels[r], pixels[r + 1])]
            for r in range(0, len(pixels) - 1, 2)]


GAP = Segment(" " * (CELL_W - IMG))
LABEL_W = CELL_W - 1                  # "T Ankle boot" / "P ✗ T-shirt/top": the label rows
LABEL_GAP = Segment(" " * (CELL_W - LABEL_W))
EMPTY = Text("No predictions yet: they appear at the end of each epoch.", style="dim")


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `fraction` of `width` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


class SampleGrid(Widget, can_focus=True):
    """A grid of test images with true and predicted labels; arrows or a click select one."""

    BINDINGS = [
        Binding("left", "move(-1, 0)", "left", show=False),
        Binding("right", "move(1, 0)", "right", show=False),
        Binding("up", "move(0, -1)", "up", show=False),
        Binding("down", "move(0, 1)", "down", show=False),
    ]
    DEFAULT_CSS = "SampleGrid { width: 1fr; height: 1fr; } SampleGrid:focus { background: $boost; }"

    selected = reactive(0)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.images: list[list[list[int]]] = []   # pooled 14x14 pixels of the shown samples
        self.trues: list[int] = []
        self.preds: list[int] = []
        self.keys: list | None = None              # the samples' test indices, for the cache
        self.cache: dict = {}                      # test index -> half-block lines
        self.top_row = 0                           # the first row shown: the grid pages

    def forget(self) -> None:
        """Drop the cached drawings (the test images changed)."""
        self.cache = {}

    @property
    def columns(self) -> int:
        return max(1, self.size.width // CELL_W)

    @property
    def rows_shown(self) -> int:
        return max(1, self.size.height // CELL_H)

    @property
    def capacity(self) -> int:
        """How many cells fit in the widget's current size."""
        return self.columns * self.rows_shown

    def _follow(self) -> None:
        """Page so that the selected image's row is on screen (a small terminal shows one row
        of a few images; the arrows reach all of them)."""
        row = self.selected // self.columns
        if row < self.top_row:
            self.top_row = row
        elif row >= self.top_row + self.rows_shown:
            self.top_row = row - self.rows_shown + 1

    def show(self, images, trues: list[int], preds: list[int], keys: list | None = None) -> None:
        """Show samples (pooled pixel lists, true labels, predicted labels); `keys` (their test
        indices) let the drawings be reused from one epoch to the next."""
        self.images, self.trues, self.preds, self.keys = images, trues, preds, keys
        self.selected = min(self.selected, max(0, len(images) - 1))
        self.refresh()

    def blocks(self, i: int) -> list[list[Segment]]:
        """The half-block lines of sample `i`, cached by its test index."""
        if self.keys is None:
            return halfblock_lines(self.images[i])
        key = self.keys[i]
        if key not in self.cache:
            self.cache[key] = halfblock_lines(self.images[i])
        return self.cache[key]

    def label(self, i: int, kind: str) -> Segment:
        """The true label (T), or the prediction (P) marked right (✓) or wrong (✗), of sample
        `i`: readable without colour."""
        right = self.trues[i] == self.preds[i]
        name = TEXT_LABELS[self.trues[i] if kind == "true" else self.preds[i]]
        text = "T " + name if kind == "true" else ("P ✓ " if right else "P ✗ ") + name
        style = Style() if kind == "true" else Style(bold=True, color="green" if right else "red")
        if i == self.selected:
            style += Style(reverse=True)
        return Segment(text[:LABEL_W].ljust(LABEL_W), style)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.images:
            lines = EMPTY.wrap(self.app.console, max(1, width))
            text = list(lines[y].render(self.app.console)) if y < len(lines) else []
            return line_strip(text, width, self.rich_style)
        cols, row, line = self.columns, self.top_row + y // CELL_H, y % CELL_H
        if y // CELL_H >= self.rows_shown:
            return blank_strip(width, self.rich_style)
        start = row * cols
        cells = range(start, min(start + cols, len(self.images)))
        segments: list[Segment] = []
        for i in cells:
            if line < IMG // 2:
                segments.extend(self.blocks(i)[line])
            elif line < IMG // 2 + 2:
                segments.append(self.label(i, "true" if line == IMG // 2 else "pred"))
                segments.append(LABEL_GAP)
                continue
            else:
                break
            segments.append(GAP)
        return line_strip(segments, width, self.rich_style)

    def on_resize(self) -> None:
        # Fewer cells may fit now: keep the selected one on screen.
        self._follow()
        self.refresh()

    def on_click(self, event) -> None:
        col, row = event.x // CELL_W, self.top_row + event.y // CELL_H
        index = row * self.columns + col
        if col < self.columns and index < len(self.images):
            self.selected = index
        self.focus()

    def action_move(self, dx: int, dy: int) -> None:
        """Move the selection by a cell (dx) or a row (dy), paging when it leaves the screen."""
        if self.images:
            self.selected = max(0, min(len(self.images) - 1,
                                       self.selected + dx + dy * self.columns))

    def watch_selected(self) -> None:
        self._follow()
        self.refresh()
        self.post_message(PredictionsPanel.Selected(self.selected))


class ProbabilityBars(Static):
    """Bar chart of the 10 class probabilities of one image."""

    DEFAULT_CSS = "ProbabilityBars { width: 32; height: 1fr; padding: 0 1; }"

    def show(self, probs: list[float] | None, true: int | None = None,
             where: str = "") -> None:
        """Draw `probs`; the true class marked T (and green), a wrong top guess P (and red), a
        right one ✓."""
        if probs is None:
            self.update(Text("Select an image to see its class probabilities.", style="dim"))
            return
        top = max(range(len(probs)), key=probs.__getitem__)
        text = Text("class probabilities", style="bold")
        text.append(f"\n{where} (arrows)\n\n" if where else "\n\n", style="dim")
        for cls, p in enumerate(probs):
            style = "green" if cls == true else ("red" if cls == top else "")
            mark = "✓" if cls == true == top else ("T" if cls == true else
                                                   ("P" if cls == top else " "))
            text.append(f"{mark} {TEXT_LABELS[cls]:<10} ", style=style)
            text.append(bar(p, 10), style=style or "cyan")
            text.append(f" {p:5.3f}\n", style=style)
        text.append("\nT true class, P predicted, ✓ both", style="dim")
        self.update(text)


class PredictionsPanel(Horizontal):
    """Sample grid plus probability bars; `n` draws new samples, `m` shows only mistakes."""

    class Selected(Message):
        """The selected image changed."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    misclassified_only = reactive(False)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.pooled: Any = None     # uint8 (N, 14, 14) tensor of the test images
        self.labels: list[int] = []
        self.probs = None           # float (N, 10) tensor of the latest test predictions
        self.indices: list[int] = []
        self.rng = random.Random(0)
        self.pixels: dict[int, list[list[int]]] = {}   # pooled images as lists, by index
        self.stale = False          # predictions arrived while the panel was hidden

    def compose(self) -> ComposeResult:
        yield SampleGrid(id="grid")
        yield ProbabilityBars(id="bars")

    def set_data(self, test_images, test_labels) -> None:
        """Take the test split (uint8 N x 28 x 28 tensor, labels); pool the images once."""
        import torch.nn.functional as F

        self.pooled = F.avg_pool2d(test_images[:, None].float(), 2)[:, 0].round().to("cpu").byte()
        self.labels = test_labels.tolist()
        self.pixels = {}
        self.probs = None
        self.indices = list(range(min(64, len(self.labels))))  # the book: the first test images
        self.query_one(SampleGrid).forget()
        self.query_one(SampleGrid).show([], [], [])
        self.query_one(ProbabilityBars).show(None)

    def clear(self) -> None:
        """Forget the data and predictions (after a reset)."""
        self.pooled, self.probs, self.labels, self.indices = None, None, [], []
        self.query_one(SampleGrid).show([], [], [])
        self.query_one(ProbabilityBars).show(None)

    def update_predictions(self, probs) -> None:
        """New predictions for every test image (at an epoch end).

        While the panel is hidden (another tab is shown) they are only stored, and drawn when
        it is shown again: no UI time is taken from training for what nobody sees.
        """
        self.probs = probs
        if self.is_on_screen:
            self.render_samples()
        else:
            self.stale = True

    @property
    def is_on_screen(self) -> bool:
        """True when the panel's tab is the one shown."""
        return self.is_mounted and self.display and self.parent is not None and \
            self.parent.display and self.region.area > 0

    def refresh_if_stale(self) -> None:
        """Draw predictions that arrived while the panel was hidden."""
        if self.stale:
            self.stale = False
            self.render_samples()

    def new_samples(self) -> None:
        """Draw a new random set of test images (only misclassified ones when that is on)."""
        if not self.labels:
            return
        pool = self._candidates()
        self.indices = self.rng.sample(pool, min(64, len(pool)))
        self.render_samples()

    def _candidates(self) -> list[int]:
        if self.misclassified_only and self.probs is not None:
            preds = self.probs.argmax(dim=1).tolist()
            return [i for i, (p, t) in enumerate(zip(preds, self.labels)) if p != t]
        return list(range(len(self.labels)))

    def watch_misclassified_only(self) -> None:
        if self.probs is not None:
            self.new_samples() if self.misclassified_only else self._first_samples()

    def _first_samples(self) -> None:
        self.indices = list(range(min(64, len(self.labels))))
        self.render_samples()

    def render_samples(self) -> None:
        """Show the chosen indices with the latest predictions."""
        if self.pooled is None or self.probs is None:
            return
        if self.misclassified_only:
            preds = self.probs.argmax(dim=1)
            self.indices = [i for i in self.indices if int(preds[i]) != self.labels[i]] or \
                self._candidates()[:64]
        idx = self.indices
        preds = self.probs[idx].argmax(dim=1).tolist() if idx else []
        for i in idx:
            if i not in self.pixels:
                self.pixels[i] = self.pooled[i].tolist()
        self.query_one(SampleGrid).show([self.pixels[i] for i in idx],
                                        [self.labels[i] for i in idx], preds, keys=list(idx))
        self.show_selected(self.query_one(SampleGrid).selected)

    def show_selected(self, index: int) -> None:
        """Draw the probability bars of the image at grid position `index`."""
        if self.probs is None or index >= len(self.indices):
            self.query_one(ProbabilityBars).show(None)
            return
        i = self.indices[index]
        self.query_one(ProbabilityBars).show(self.probs[i].tolist(), self.labels[i],
                                             f"image {index + 1} of {len(self.indices)}")

    def on_predictions_panel_selected(self, event: Selected) -> None:
        self.show_selected(event.index)
