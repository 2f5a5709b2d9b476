"""The Log tab: every message of the session, kept so it can be written again at a new width.

RichLog wraps a line once, when it is written, at the width it has then; a hidden tab has no
width (it would wrap at the console's guess, 78 columns), and a resized window keeps the old
wrapping. So the panel keeps its lines and writes them all again when it is shown after a change.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog


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
