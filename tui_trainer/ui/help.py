"""The help screen: every key binding of the app in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]smtui keys[/b]

  s       start training with the form's settings
  space   pause / resume
  x       stop (a checkpoint of that exact point is saved)
  r       reset: stop, clear curves and predictions, unlock the form
  n       draw new sample images
  m       show only misclassified images (toggle)
  c       save a checkpoint now (at once when paused)
  o       overlay the other runs' test accuracy on the curves
  + -     move the decision threshold (analysis tab)
  1-9     the tabs, in order (1 setup ... 9 train, on big terminals)
  ← ↑ → ↓ pick an image (predictions tab) to see its probabilities
  escape  leave a text field (these keys act again)
  q       quit (stops the run and saves a checkpoint first)
  ?       this help

Press escape or ? to close."""


class HelpScreen(ModalScreen):
    """The key bindings, over the app."""

    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen Static { width: 74; height: auto; border: round $accent; padding: 1 2;
                        background: $surface; }
    """

    def compose(self) -> ComposeResult:
        yield Static(HELP)
