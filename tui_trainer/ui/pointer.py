"""Mouse events that land on a widget the app has already removed.

The screen finds the widget under the pointer in the map it drew last, and a widget can leave
the DOM before the next frame redraws that map: a notification expiring, a table rebuilt. A
click or drag there reached Textual's text selection, which reads the removed widget's parent
(None) and crashed the app (a right click on the "embedded subset" notification as it expired,
5 times in ~20 bursts). What the pointer pressed is gone, so the press and drag go nowhere, as
they would a frame later. A release still goes through, so a selection begun elsewhere ends.
"""

from __future__ import annotations

from textual import events
from textual.errors import NoWidget
from textual.app import App


def on_removed_widget(app: App, event: events.Event) -> bool:
    """True when `event` is a press, move or scroll of the pointer over a widget of the
    current screen's last drawn map that is no longer attached to the app."""
    if not isinstance(event, events.MouseEvent) or isinstance(event, events.MouseUp):
        return False
    try:
        widget, _ = app.screen.get_widget_at(event.x, event.y)
    except NoWidget:
        return False
    return not widget.is_attached
