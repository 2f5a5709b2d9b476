"""A text field whose editing keys act in the order they were typed.

Textual's `Input` inserts a printable character in its own key handler, but its editing keys
(backspace, delete, the arrows, home, end...) are bindings, which run only once the key event
has bubbled up to the app. Keys that arrive together (tmux send-keys, a paste of keystrokes, a
busy event loop over SSH) are therefore applied out of order: backspace x3 then "0.25" typed
into "0.1" gave "0.1"'s digits back, or "0.". (Textual issue 6605.) Running the field's own
bindings in its key handler, as the characters are, keeps the order.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """An `Input` that runs its own key bindings at once, in order with typed characters."""

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable:
            return   # Input's own handler inserts it
        for key in event.aliases:
            for binding in self._bindings.key_to_bindings.get(key, ()):
                if binding.priority or binding.action.startswith("scroll"):
                    continue   # the app's, or scrolling (which no field here needs)
                event.stop()
                event.prevent_default()
                await self.run_action(binding.action)
                return
