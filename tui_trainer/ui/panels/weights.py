"""The weights tab: what softmax regression learns, the notes' fifth exercise made visible.

A linear model's W is ten vectors of 784 weights; each, reshaped to 28x28, is the template the
model matches an image against to score one class (o_k = x . w_k + b_k). Drawn on a diverging
scale, red where a bright pixel raises the class's score, blue where it lowers it, dark where it
does not matter, the templates look like blurred trousers, shoes and bags as training goes on.
One scale for all ten, so their strengths compare; the bias is printed under each.
"""

from __future__ import annotations

from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from ...core.labels import TEXT_LABELS
from .predictions import halfblock_lines
from .strips import blank_strip, line_strip

SIDE = 14                      # templates pooled to 14x14 pixels: 14 cells wide, 7 lines high
CELL_W, CELL_H = SIDE + 3, SIDE // 2 + 2
NEUTRAL = (24, 24, 24)


def diverging(value: float, scale: float) -> Color:
    """Red for positive, blue for negative, NEUTRAL at zero; `scale` maps to full colour."""
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    target = (235, 70, 50) if t > 0 else (60, 120, 240)
    t = abs(t)
    return Color.from_rgb(*(round(n + (c - n) * t) for n, c in zip(NEUTRAL, target)))


class WeightsPanel(Widget):
    """Ten class templates in a grid, with their class names and biases."""

    DEFAULT_CSS = "WeightsPanel { height: 1fr; }"
    NOT_LINEAR = ("The weights view is for the linear models (scratch, concise): each class has "
                  "one template there. The MLP's first layer has 256 hidden units, none of which "
                  "belongs to a class.")
    EMPTY = "No weights yet: the templates appear at the end of each epoch."

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.tiles: list[list[list[Segment]]] = []
        self.biases: list[float] = []
        self.scale = 0.0
        self.note = self.EMPTY
        self.epoch = 0
        self.pending: tuple[Any, int] | None = None   # not drawn yet: the tab was hidden

    def show(self, templates, epoch: int = 0) -> None:
        """Draw (W (10, D), b (10,)) tensors; None says the model is not linear. While the tab is
        hidden they are only kept, and drawn when it is shown: building the tiles is Python work
        on the UI thread, which a fast run would pay at every epoch for nothing seen."""
        self.pending = (templates, epoch)
        if self.is_on_screen:
            self.draw_pending()

    def draw_pending(self) -> None:
        """Draw the templates kept by `show`, if any."""
        if self.pending is None:
            return
        (templates, epoch), self.pending = self.pending, None
        if templates is None:
            self.tiles, self.note = [], self.NOT_LINEAR
            self.refresh()
            return
        import torch.nn.functional as F

        W, b = templates
        side = round(W.shape[1] ** 0.5)
        images = W.reshape(-1, 1, side, side)
        if side != SIDE:
            images = F.adaptive_avg_pool2d(images, SIDE)
        images = images[:, 0]
        self.scale = float(images.abs().amax()) or 1.0
        scale = self.scale
        self.tiles = [halfblock_lines(img.tolist(), lambda v: diverging(v, scale))
                      for img in images]
        self.biases = b.tolist()
        self.epoch = epoch
        self.refresh()

    def clear(self) -> None:
        """Back to the empty notice (after a reset)."""
        self.tiles, self.note, self.pending = [], self.EMPTY, None
        self.refresh()

    @property
    def columns(self) -> int:
        return max(1, self.size.width // CELL_W)

    def get_content_height(self, container, viewport, width: int) -> int:
        if not self.tiles:
            return 3
        rows = -(-len(self.tiles) // max(1, width // CELL_W))
        return 2 + rows * CELL_H

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.tiles:
            lines = Text(self.note, style="dim").wrap(self.app.console, max(1, width))
            text = list(lines[y].render(self.app.console)) if y < len(lines) else []
            return line_strip(text, width, self.rich_style)
        if y == 0:
            # The scale first after the epoch: a narrow terminal cuts the end of the line, and
            # the scale is what the colours mean.
            head = Text(f"class templates, epoch {self.epoch}, scale ±{self.scale:.3g}: ",
                        style="bold")
            head.append("red", style=Style(color=diverging(1, 1), bold=True))
            head.append(" raises a score, ")
            head.append("blue", style=Style(color=diverging(-1, 1), bold=True))
            head.append(" lowers it")
            return line_strip(list(head.render(self.app.console)), width, self.rich_style)
        if y == 1:
            return blank_strip(width, self.rich_style)
        cols = self.columns
        row, line = (y - 2) // CELL_H, (y - 2) % CELL_H
        segments: list[Segment] = []
        for k in range(row * cols, min(row * cols + cols, len(self.tiles))):
            if line < SIDE // 2:
                segments.extend(self.tiles[k][line])
                segments.append(Segment(" " * (CELL_W - SIDE)))
            elif line == SIDE // 2:
                segments.append(
                    Segment(TEXT_LABELS[k][: CELL_W - 1].ljust(CELL_W), Style(bold=True))
                )
            else:
                segments.append(Segment(f"b {self.biases[k]:+.3f}"[:CELL_W - 1].ljust(CELL_W),
                                        Style(dim=True)))
        return line_strip(segments, width, self.rich_style)
