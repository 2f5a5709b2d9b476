"""Keys act in the order they were typed, the keys that move focus or press a button included.

Textual hands each key to the focused widget's queue and goes on to the next key at once. A key
the widget types itself (a character into a field) is applied in order. Every other key acts
later: a binding (Tab's focus move on the Screen, a field's Home or Backspace, Escape's
"leave field", a button's Enter) runs only when the key has bubbled back up to the app, and a
button's press reaches the app as a message after that. Keys that arrive together (tmux
send-keys, a paste of keystrokes, a busy loop over SSH) were therefore applied out of order:
`C-a C-k 128 Tab C-a C-k 30` put 30 in the batch size field, which a user trained with. (Textual
issue 6605 describes the editing keys; focus moves are the same class.)

`KeyOrder` puts the app back in charge of the order. A key the focused widget consumes goes to
it as before. Any other key waits until the widget has dealt with the keys before it, runs the
binding it would reach by bubbling up, now, and then holds the keys after it until what that
binding set off (a press, the Start it posts, a focus move) has reached the app. Mouse clicks
and pastes move focus or land where it is as Textual reads them: they only wait, like keys,
behind what an earlier key set off.
"""

from __future__ import annotations

import asyncio

from textual import events
from textual.app import App
from textual.message_pump import MessagePump

from .textual_private import check_bindings

SETTLE_S = 1.0       # a widget that does not answer in this time is not waited for
SETTLE_ROUNDS = 8    # a message may set off another one further up: follow it this many times
ORDERED = (events.Key, events.MouseDown, events.MouseUp, events.Click, events.Paste)


async def settled(pump: MessagePump) -> None:
    """Wait until `pump` has handled every message posted to it so far."""
    done = asyncio.Event()
    if pump.call_later(done.set):
        try:
            await asyncio.wait_for(done.wait(), SETTLE_S)
        except asyncio.TimeoutError:
            pass


class KeyOrder:
    """The app's key order: see the module's docstring."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.hold: asyncio.Event | None = None   # unset while a key's effects are on their way

    def held(self, event: events.Event) -> bool:
        """Put a key, a click or a paste behind what the keys before it set off, if that is
        still on its way; True when it was."""
        if isinstance(event, ORDERED) and self.hold is not None and not self.hold.is_set():
            self.app.post_message(event)
            return True
        return False

    async def handle(self, event: events.Key) -> bool:
        """Deal with a key the app has just read; False leaves it to Textual as it is."""
        app = self.app
        widget = app.focused
        if widget is None or widget.check_consume_key(event.key, event.character):
            return False
        if await check_bindings(app, event.key, priority=True):
            return True
        await settled(widget)
        if not await check_bindings(app, event.key):
            return False
        event.stop()
        await self.follow(widget)
        return True

    async def follow(self, widget) -> None:
        """Let what a binding set off bubble up to the app before the next key is read."""
        path = [node for node in widget.ancestors_with_self if node is not self.app]
        for _ in range(SETTLE_ROUNDS):
            busy = [node for node in path if node.message_queue_size]
            if not busy:
                break
            for node in busy:
                await settled(node)
        hold = self.hold = asyncio.Event()
        self.app.call_later(hold.set)   # after the messages already on their way to the app
