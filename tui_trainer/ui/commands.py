"""smtui's commands in Textual's command palette (ctrl+p), beside Textual's own (theme, keys,
quit...): every action of the footer and the help screen, the presets and the tabs, found by
typing a few letters of their names. A command the app would refuse now (start while a run is
going on, training keys in `smtui view`) is not offered."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.app import SystemCommand

from ..core.config import PRESETS

# (title, help, action, its key): the app's own actions, by name.
ACTIONS = (
    ("Start training", "train with the form's settings", "start", "s"),
    ("Pause or resume", "pause the run at its next batch, or go on", "pause", "space"),
    ("Stop the run", "stop at the next batch with a checkpoint of that point", "stop", "x"),
    ("Reset", "stop, clear the curves and predictions, unlock the form", "reset", "r"),
    ("Save a checkpoint", "now when paused, else at the next batch", "save_checkpoint", "c"),
    ("Overlay other runs", "their test accuracy on the curves (toggle)", "overlay", "o"),
    ("Compare train loss or test accuracy", "the other runs' curves: the other metric",
     "compare_metric", "v"),
    ("New sample images", "draw other test images in the predictions", "new_samples", "n"),
    ("Misclassified only", "show only the images the model gets wrong (toggle)",
     "misclassified", "m"),
    ("Help", "every key of the app", "help", "? or F1"),
)
TABS = (("setup", "1"), ("curves", "2"), ("predictions", "3"), ("analysis", "4"), ("runs", "5"),
        ("numerics", "6"), ("log", "7"), ("weights", "8"), ("train", "9"))


def smtui_commands(app) -> Iterable[SystemCommand]:
    """The commands the app offers now."""
    for title, help_text, action, key in ACTIONS:
        if app.check_action(action, ()) is not False:
            yield SystemCommand(title, f"{help_text} ({key})", getattr(app, f"action_{action}"))
    for tab, key in TABS:
        yield SystemCommand(f"Go to the {tab.title()} tab", f"the {tab} view ({key})",
                            partial(app.action_tab, tab))
    if app.check_action("start", ()) is not False and not app.runs.state.running:
        for name in PRESETS:
            yield SystemCommand(f"Preset: {name}", "fill the form with this recipe",
                                partial(app.use_preset, name))
    if app.check_action("start", ()) is not False and not app.runs.state.running:
        for record in app.runs.resumable():
            yield SystemCommand(f"Resume {record.label}", f"Start resumes {record.path}",
                                partial(app.runs.resume, record, app.mode.resume_refusal))
    table = app.panels.runs_table
    if 0 <= table.cursor_row < len(table.records):   # the Runs tab's selected run
        name = table.records[table.cursor_row].label
        yield SystemCommand(f"Pin or unpin {name}", "drawn first on the overlay, listed first "
                            "(p in the Runs tab)", partial(table.action_mark, "pin"))
        yield SystemCommand(f"Hide or show {name}", "left off the overlay (h in the Runs tab)",
                            partial(table.action_mark, "hide"))
    yield SystemCommand("Screenshot", "save the screen as an SVG file in this folder",
                        app.action_save_screenshot)
