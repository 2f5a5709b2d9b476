"""The numerics tab: type logits, see the naive softmax overflow and the LogSumExp form hold."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static


class NumericsPanel(Vertical):
    """Logits and a true class in; naive and stable softmax and cross-entropy out."""

    DEFAULT_CSS = """
    NumericsPanel { padding: 0 1; }
    NumericsPanel Horizontal { height: auto; }
    NumericsPanel Label { width: 12; }
    NumericsPanel Input { width: 40; }
    NumericsPanel #numerics-out { margin-top: 1; }
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

    def on_mount(self) -> None:
        self.update_report()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.update_report()

    def update_report(self) -> None:
        """Recompute from the inputs (torch is imported here, on first use of the tab)."""
        out = self.query_one("#numerics-out", Static)
        try:
            import sys
            if "torch" not in sys.modules and not getattr(self.app, "core_loaded", False):
                out.update(Text("waiting for torch to load…", style="dim"))
                return
            from ..numerics import compare, parse_logits, report
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
