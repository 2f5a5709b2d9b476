"""The status bar: epoch progress, throughput, ETA, device, data set and run state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from ..headless import fmt_duration


class StatusBar(Vertical):
    """Two lines: a progress bar with the epoch counter, then the run's facts."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; padding: 0 1; }
    StatusBar Horizontal { height: 1; }
    StatusBar #epoch { width: auto; min-width: 12; }
    StatusBar ProgressBar { width: 1fr; }
    StatusBar #facts { height: 1; color: $text-muted; }
    """

    state = reactive("idle")
    device = reactive("…")
    dataset = reactive("")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("epoch –", id="epoch")
            yield ProgressBar(total=1, show_eta=False, id="progress")
        yield Static("", id="facts")

    def on_mount(self) -> None:
        self.speed, self.eta = 0.0, None
        self._facts()

    def progress(self, epoch: int, epochs: int, batch: int, num_batches: int,
                 examples_per_s: float, eta_s: float | None) -> None:
        """Update the bar and the counters from a progress event."""
        self.query_one("#epoch", Static).update(f"epoch {epoch}/{epochs} ")
        self.query_one(ProgressBar).update(total=num_batches, progress=batch)
        self.speed, self.eta = examples_per_s, eta_s
        self._facts()

    def reset_progress(self) -> None:
        """Back to an empty bar."""
        self.query_one("#epoch", Static).update("epoch –")
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.speed, self.eta = 0.0, None
        self._facts()

    def _facts(self) -> None:
        eta = fmt_duration(self.eta) if self.eta is not None else "–"
        data = {"full": "full data", "subset": "EMBEDDED SUBSET"}.get(self.dataset,
                                                                     "data: not loaded")
        self.query_one("#facts", Static).update(
            f"{self.state} · {self.speed:,.0f} img/s · ETA {eta} · {self.device} · {data}")

    def watch_state(self) -> None:
        if self.is_mounted:
            self._facts()

    watch_device = watch_state
    watch_dataset = watch_state
