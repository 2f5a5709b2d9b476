"""Textual messages that carry the core's training events from the worker thread to the UI."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..core.events import BatchEnd


class TrainingEvent(Message):
    """One event of the training loop (RunStarted, BatchEnd, EpochEnd, Message, RunEnded)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # A backlog of progress updates collapses into the newest one.
        return (isinstance(self.event, BatchEnd) and isinstance(message, TrainingEvent)
                and isinstance(message.event, BatchEnd))


class TrainingFailed(Message):
    """The worker could not start or continue a run (bad data, unwritable folder...)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class CoreLoaded(Message):
    """torch and the core have finished importing in the background."""

    def __init__(self, seconds: float, device: str) -> None:
        super().__init__()
        self.seconds = seconds
        self.device = device


class Printed(Message):
    """A whole line a program printed while the app held the terminal (transcript.py)."""

    def __init__(self, line: str, stderr: bool) -> None:
        super().__init__()
        self.line = line
        self.stderr = stderr
