"""The predictions panel: the book's predict_ch3, live. Test images drawn with half blocks.

Each image is pooled to 14x14 and drawn with the upper-half block: one character cell holds two
pixels (foreground = upper, background = lower), which any SSH terminal with colour shows. Under
each image, the true label and the prediction, green when right, red when wrong. The selected
image's 10 class probabilities are drawn as a bar chart beside the grid.
"""

from __future__ import annotations

import random

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from ..labels import TEXT_LABELS

CELL_W, CELL_H, IMG = 16, 10, 14   # cell size in characters; pooled image side in pixels
BLOCKS = " ▏▎▍▌▋▊▉█"


def halfblock_lines(pixels: list[list[int]]) -> list[Text]:
    """Rows of `pixels` (0-255 grey) as Text lines, two pixel rows per line."""
    lines = []
    for r in range(0, len(pixels) - 1, 2):
        line = Text()
        for top, bottom in zip(pixels[r], pixels[r + 1]):
            line.append("▀", style=f"rgb({top},{top},{top}) on rgb({bottom},{bottom},{bottom})")
        lines.append(line)
    return lines


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

    @property
    def columns(self) -> int:
        return max(1, self.size.width // CELL_W)

    @property
    def capacity(self) -> int:
        """How many cells fit in the widget's current size."""
        return self.columns * max(1, self.size.height // CELL_H)

    def show(self, images, trues: list[int], preds: list[int]) -> None:
        """Show samples (pooled pixel lists, true labels, predicted labels)."""
        self.images, self.trues, self.preds = images, trues, preds
        self.selected = min(self.selected, max(0, len(images) - 1))
        self.refresh()

    def render(self) -> Text:
        if not self.images:
            return Text("No predictions yet: they appear at the end of each epoch.", style="dim")
        out = Text()
        cols = self.columns
        shown = min(len(self.images), self.capacity)
        for row_start in range(0, shown, cols):
            cells = range(row_start, min(row_start + cols, shown))
            blocks = {i: halfblock_lines(self.images[i]) for i in cells}
            for line in range(IMG // 2):
                for i in cells:
                    out.append_text(blocks[i][line])
                    out.append(" " * (CELL_W - IMG))
                out.append("\n")
            for kind in ("true", "pred"):
                for i in cells:
                    right = self.trues[i] == self.preds[i]
                    label = TEXT_LABELS[self.trues[i] if kind == "true" else self.preds[i]]
                    text = (label if kind == "true" else ("✓ " if right else "✗ ") + label)
                    style = "" if kind == "true" else ("bold green" if right else "bold red")
                    if i == self.selected:
                        style += " reverse"
                    out.append(text[:IMG].ljust(IMG), style=style.strip())
                    out.append(" " * (CELL_W - IMG))
                out.append("\n")
            out.append("\n")
        return out

    def on_resize(self) -> None:
        # Fewer cells may fit now: keep the selection on a visible one.
        count = min(len(self.images), self.capacity)
        if count and self.selected >= count:
            self.selected = count - 1

    def on_click(self, event) -> None:
        col, row = event.x // CELL_W, event.y // CELL_H
        index = row * self.columns + col
        if col < self.columns and index < min(len(self.images), self.capacity):
            self.selected = index
        self.focus()

    def action_move(self, dx: int, dy: int) -> None:
        """Move the selection by a cell (dx) or a row (dy)."""
        count = min(len(self.images), self.capacity)
        if count:
            self.selected = max(0, min(count - 1, self.selected + dx + dy * self.columns))

    def watch_selected(self) -> None:
        self.refresh()
        self.post_message(PredictionsPanel.Selected(self.selected))


class ProbabilityBars(Static):
    """Bar chart of the 10 class probabilities of one image."""

    DEFAULT_CSS = "ProbabilityBars { width: 30; height: 1fr; padding: 0 1; }"

    def show(self, probs: list[float] | None, true: int | None = None) -> None:
        """Draw `probs`; the true class in green, a wrong top guess in red."""
        if probs is None:
            self.update(Text("Select an image to see its class probabilities.", style="dim"))
            return
        top = max(range(len(probs)), key=probs.__getitem__)
        text = Text("class probabilities\n\n", style="bold")
        for cls, p in enumerate(probs):
            style = "green" if cls == true else ("red" if cls == top else "")
            text.append(f"{TEXT_LABELS[cls]:<10} ", style=style)
            text.append(bar(p, 10), style=style or "cyan")
            text.append(f" {p:5.3f}\n", style=style)
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
        self.pooled = None          # uint8 (N, 14, 14) tensor of the test images
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
                                        [self.labels[i] for i in idx], preds)
        self.show_selected(self.query_one(SampleGrid).selected)

    def show_selected(self, index: int) -> None:
        """Draw the probability bars of the image at grid position `index`."""
        if self.probs is None or index >= len(self.indices):
            self.query_one(ProbabilityBars).show(None)
            return
        i = self.indices[index]
        self.query_one(ProbabilityBars).show(self.probs[i].tolist(), self.labels[i])

    def on_predictions_panel_selected(self, event: Selected) -> None:
        self.show_selected(event.index)
