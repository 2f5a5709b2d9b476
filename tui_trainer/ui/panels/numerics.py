"""The numerics tab: type logits, see the naive softmax overflow and the LogSumExp form hold;
below, the many-classes lab (exercise 5), measured in a worker thread on Enter."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static

from ..threads import parallel_here, serial_here

CLASSES_HINT = ("Exercise 5: what grows with the number of classes V (a vocabulary's next word), "
                "and sampled softmax as a remedy. Enter measures (seconds: a step of 100,000 "
                "classes takes about one on a small CPU).")


class NumericsPanel(VerticalScroll):
    """Logits and a true class in; naive and stable softmax and cross-entropy out. Numbers of
    classes in; the lab's tables and what they answer out."""

    DEFAULT_CSS = """
    NumericsPanel { padding: 0 1; }
    NumericsPanel Horizontal { height: auto; }
    NumericsPanel Label { width: 12; }
    NumericsPanel Input { width: 40; }
    NumericsPanel #numerics-out { margin-top: 1; }
    NumericsPanel #classes-hint { margin-top: 1; }
    NumericsPanel #classes-out { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("The notes' exercises 1-3: softmax from its definition overflows, log(0) "
                     "makes the naive cross-entropy infinite, the LogSumExp form stays finite.",
                     classes="help")
        with Horizontal():
            yield Label("logits")
            yield Input("1000, 0, -1000", id="logits", compact=True)
        with Horizontal():
            yield Label("true class")
            yield Input("0", id="label", compact=True)
        yield Static("", id="numerics-out")
        yield Static(CLASSES_HINT, id="classes-hint", classes="help")
        with Horizontal():
            yield Label("classes")
            yield Input("10, 100, 1000, 10000, 100000", id="classes", compact=True)
        yield Static("", id="classes-out")

    def on_mount(self) -> None:
        self.update_report()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id != "classes":
            self.update_report()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id != "classes":
            return
        from ...labs.many_classes import parse_classes
        out = self.query_one("#classes-out", Static)
        try:
            values = parse_classes(event.value)
        except ValueError as exc:
            out.update(Text(f"invalid input: {exc}", style="red"))
            return
        self.show_classes(Text(f"measuring {len(values)} layer size(s)…", style="dim"))
        self.measure_classes(values)

    def show_classes(self, text: Text) -> None:
        """The lab's output, scrolled into view (it sits below the first lab)."""
        out = self.query_one("#classes-out", Static)
        out.update(text)
        self.call_after_refresh(out.scroll_visible, top=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="classes")
    def measure_classes(self, values: list[int]) -> None:
        """Measure in a thread: the window stays live. Beside a run it uses one CPU thread, so
        it takes as little as it can from training (the tables say how many it used)."""
        from textual.worker import get_current_worker

        from ...labs.many_classes import measure, report
        if getattr(self.app, "running", False):
            serial_here()
        else:
            parallel_here()
        worker, rows = get_current_worker(), []
        try:
            for v in values:
                if worker.is_cancelled:
                    return
                rows.append(measure(v))
                done = f"measured {len(rows)} of {len(values)} ({v:,} classes)…"
                self.app.call_from_thread(self.show_classes, Text(done, style="dim"))
            text = Text(report(rows))
        except (RuntimeError, MemoryError) as exc:   # e.g. not enough memory for the layer
            text = Text(f"could not measure: {exc}", style="red")
        self.app.call_from_thread(self.show_classes, text)

    def update_report(self) -> None:
        """Recompute from the inputs (torch is imported here, on first use of the tab)."""
        out = self.query_one("#numerics-out", Static)
        try:
            import sys
            if "torch" not in sys.modules and not getattr(self.app, "core_loaded", False):
                out.update(Text("waiting for torch to load…", style="dim"))
                return
            from ...labs.numerics import compare, parse_logits, report
            logits = parse_logits(self.query_one("#logits", Input).value)
            label = int(self.query_one("#label", Input).value or "0")
            result = compare(logits, label)
        except ValueError as exc:
            out.update(Text(f"invalid input: {exc}", style="red"))
            return
        style = "green" if result.verdict.startswith("both") else "red"
        text = Text(report(result).rsplit("\n", 1)[0] + "\n")
        text.append(result.verdict, style=f"bold {style}")
        out.update(text)
