"""The Log tab: every message of the session, kept so it can be written again at a new width.

RichLog wraps a line once, when it is written, at the width it has then; a hidden tab has no
width (it would wrap at the console's guess, 78 columns), and a resized window keeps the old
wrapping. So the panel keeps its lines and writes them all again when it is shown after a change.

Its text can be selected with the mouse and copied (ctrl+c, as in other Textual apps, copies
while a selection exists): RichLog offers no selection, so the panel gives Textual the lines'
text (`get_selection`), marks each drawn cell with its place in that text (`apply_offsets`, as
Textual's own Log does) and draws the selected span in the screen's selection style.
"""

from __future__ import annotations

from rich.text import Text
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import RichLog

from ..textual_private import clear_line_cache


class LogPanel(RichLog):
    """A RichLog that keeps its lines and rewraps them at its present width."""

    def __init__(self, **kw) -> None:
        super().__init__(markup=False, wrap=True, **kw)
        self.texts: list[Text] = []   # every line, to write again at a new width
        self.stale = False            # lines were added or the width changed while hidden

    def add(self, line: Text, shown: bool) -> None:
        """Keep `line`; write it now when the tab is `shown`, else at the next `rewrap`."""
        self.texts.append(line)
        if shown:
            self.write(line, width=self.content_width())
        else:
            self.stale = True

    def content_width(self) -> int | None:
        """The width lines wrap at now; None before the panel has been laid out."""
        width = self.scrollable_content_region.width
        return width if width > 0 else None

    def rewrap(self) -> None:
        """Write every line again at the present width, scrolled to the latest."""
        self.stale = False
        self.clear()
        width = self.content_width()
        for line in self.texts:
            self.write(line, width=width, scroll_end=False)
        self.scroll_end(animate=False)

    ALLOW_SELECT = True

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text, from the lines as they are wrapped on screen."""
        return selection.extract("\n".join(strip.text for strip in self.lines)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        clear_line_cache(self)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        strip = super().render_line(y)
        selection = self.text_selection
        index = scroll_y + y
        if selection is not None and index < len(self.lines):
            span = selection.get_span(index)
            if span is not None:
                start, end = span
                end = self.lines[index].cell_length if end == -1 else end
                width = strip.cell_length
                start, end = (
                    min(width, max(0, start - scroll_x)),
                    min(width, max(0, end - scroll_x)),
                )
                if end > start:
                    style = self.screen.get_component_rich_style("screen--selection")
                    strip = Strip.join([strip.crop(0, start), strip.crop(start, end).apply_style(
                        style), strip.crop(end, width)])
        return strip.apply_offsets(scroll_x, index)
