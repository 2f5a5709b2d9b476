"""The status bar: epoch progress, throughput, ETA, device, data set and run state.

One widget drawing two lines of text, rather than a ProgressBar and labels: each update is a
single small render, which matters because every millisecond the UI thread spends is taken from
the training thread on a two-core machine.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...core.console import fmt_duration

BAR = "━"


class StatusBar(Widget):
    """Line 1: epoch counter and progress bar. Line 2: state, speed, ETA, device, data set."""

    DEFAULT_CSS = "StatusBar { height: 2; background: $panel; padding: 0 1; }"

    state = reactive("idle")
    device = reactive("…")
    dataset = reactive("")
    threads = reactive(0)    # CPU threads training uses now (0: not known, or not on the CPU)
    machine = reactive("")   # the process's CPU use and memory (machine.describe)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.epoch_text = "epoch –"
        self.fraction = 0.0
        self.speed: float = 0.0
        self.eta: float | None = None

    def progress(self, epoch: int, epochs: int, batch: int, num_batches: int,
                 examples_per_s: float, eta_s: float | None) -> None:
        """Update the bar and the counters from a progress event."""
        self.epoch_text = f"epoch {epoch}/{epochs}"
        self.fraction = batch / max(num_batches, 1)
        self.speed, self.eta = examples_per_s, eta_s
        self.refresh()

    def reset_progress(self) -> None:
        """Back to an empty bar."""
        self.epoch_text, self.fraction, self.speed, self.eta = "epoch –", 0.0, 0.0, None
        self.refresh()

    def render(self) -> Text:
        label = f"{self.epoch_text:<12} "
        # The bar takes what the label and the percentage leave: `epoch 97/100000` pushed a
        # bar of fixed width onto the next row, over the state, pace and ETA.
        width = max(1, (self.size.width or 80) - 2 - len(label) - 5)
        filled = int(width * self.fraction)
        text = Text(label)
        text.append(BAR * filled, style="green")
        text.append(BAR * (width - filled), style="grey23")
        text.append(f" {self.fraction * 100:3.0f}%\n")
        parts = self.line_parts()
        room = self.size.width - 2 if self.size.width else 10_000
        # Whole parts are dropped, least needed first, until the line fits: never a figure
        # without its unit ("mem 653"), never the state, pace, ETA or data set before the rest.
        while len(parts) > 1 and len(" · ".join(p for _, p in parts)) > room:
            parts.remove(max(parts, key=lambda part: part[0]))
        line = " · ".join(p for _, p in parts)
        text.append(line[:room], style="dim" if self.dataset != "subset" else "yellow")
        return text

    def line_parts(self) -> list[tuple[int, str]]:
        """The second line's parts, each with its rank (0: kept longest)."""
        live = self.state in ("training", "watching")   # paused, stopped, crashed: no stale pace
        eta = fmt_duration(self.eta) if self.eta is not None and live else "–"
        speed = f"{self.speed:,.0f} img/s" if live and self.speed > 0 else "– img/s"
        data = {"full": "full data", "subset": "EMBEDDED SUBSET"}.get(self.dataset,
                                                                     "data: not loaded")
        if self.device == "cpu":   # "cpu" is the machine's figure below: threads say the device
            device = f"{self.threads} thread{'s' if self.threads != 1 else ''}" \
                if self.threads else "CPU"
        else:
            device = self.device
        parts = [(0, self.state), (1, speed), (2, f"ETA {eta}"), (3, data), (4, device)]
        figures = [p for p in self.machine.split(" · ") if p]
        if self.machine.startswith("run: "):   # a watched run's own figures come before this
            if not live:   # its last epoch's, not what a paused or ended process uses now
                figures = []
            return parts[:4] + [(4 + i, figure) for i, figure in enumerate(figures)] + [
                (4 + len(figures), device)]   # viewer's threads, which go first
        return parts + [(5 + i, figure) for i, figure in enumerate(figures)]
