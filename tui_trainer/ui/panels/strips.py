"""Lines of the widgets that draw cell by cell (`render_line`): the test images, the templates.

Every segment of such a line carries a style, plain where it has none: under NO_COLOR Textual
passes each segment's style through its monochrome filter, which fails on a segment whose style
is None (padding and gaps have none by default), and took the Predictions and Weights tabs down
with it; and every cell has the widget's background beneath its own. Widgets build their lines
here, so none can forget.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

PLAIN = Style()


def line_strip(segments: list[Segment], width: int, base: Style = PLAIN) -> Strip:
    """`segments` as one line of `width` cells (padded or cropped), each segment styled, over
    `base`: the widget's own colours (its `rich_style`). A cell without a background of its
    own takes the widget's, never the terminal's default (ESC[49m), which in a light theme drew
    dark patches on the Predictions and Weights tabs."""
    styled = [seg if seg.style is not None else Segment(seg.text, PLAIN, seg.control)
              for seg in segments]
    return Strip(styled).extend_cell_length(width, PLAIN).crop(0, width).apply_style(base)


def blank_strip(width: int, base: Style = PLAIN) -> Strip:
    """An empty line of `width` cells in `base`'s colours."""
    return Strip.blank(width, base)
