"""The help screen: every key binding of the app in one place."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# Every key of the app, as F1 shows it; the README's table of keys says the same, row for row
# (a test compares them), and the palette offers every action among them (commands.py).
KEYS = (
    ("s", "start training with the form's settings (or the Start button)"),
    ("space", "pause / resume"),
    ("x", "stop at the next batch; a checkpoint of that point is saved"),
    ("r", "reset: stop, clear curves and predictions, unlock the form"),
    ("n", "draw new sample images"),
    ("m", "show only misclassified images (toggle)"),
    ("c", "save a checkpoint now (at once when paused)"),
    ("o", "overlay the other runs' test accuracy on the curves"),
    ("v", "compare the other runs' train loss instead of their test accuracy, and back"),
    ("p / h / enter", "in the Runs tab: pin a run, hide it, resume it; a click on a column "
                      "sorts by it"),
    ("+ / -", "move the decision threshold (analysis tab)"),
    ("1-9", "switch tabs (9: the Train view, from 140x40)"),
    ("escape", "leave a text field for the tabs bar, so these keys act again"),
    ("ctrl+p", "the command palette"),
    ("ctrl+z", "suspend to the shell; fg brings the app back"),
    ("ctrl+c", "copy the selected text (select the Log's text with the mouse); with nothing "
               "selected, quit as q"),
    ("arrows, mouse", "select an image in the predictions tab"),
    ("q", "quit (a running run is stopped and checkpointed first; the process exits within "
          "2 s)"),
    ("?, F1", "help"),
)


def help_text() -> Group:
    """The help screen's text: KEYS in two columns, each action wrapped under itself."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, action in KEYS:
        table.add_row(key, action)
    return Group(Text("smtui keys", style="bold"), Text(""), table, Text(""),
                 Text("Press escape or ? to close."))


class HelpScreen(ModalScreen):
    """The key bindings, over the app."""

    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll { width: 90; max-width: 100%; height: auto; max-height: 100%;
                                border: round $accent; padding: 0 1; background: $surface; }
    HelpScreen Static { height: auto; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():   # 80x24 scrolls the keys it cannot show
            yield Static(help_text())
