"""The run controller without a screen: stand-ins for the panels and the app it tells."""

from __future__ import annotations

from types import SimpleNamespace

from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import BatchEnd
from tui_trainer.ui.controller import RunController
from tui_trainer.ui.modes import TrainMode
from tui_trainer.ui.run_state import RunState


class Recorder:
    """A panel stand-in: every call and attribute set is kept."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        return lambda *args, **kw: self.calls.append((name, args))


def controller(mode=None) -> RunController:
    bar = SimpleNamespace(state="", threads=0, device="", dataset="", machine="",
                          progress=lambda *a: bar.__dict__.setdefault("shown", []).append(a))
    panels = SimpleNamespace(status_bar=bar, curves=Recorder(), tabs=SimpleNamespace(active=""),
                             form=Recorder(), runs_table=Recorder(), runs_note=Recorder(),
                             prediction_panels=[Recorder()])
    said: list[str] = []
    app = SimpleNamespace(config=TrainConfig(epochs=3), log_message=lambda t, s=None:
                          said.append(t), notify=lambda *a, **k: None, title="smtui")
    runs = SimpleNamespace(refresh=lambda: None, show_rows=lambda: None,
                           comparison=SimpleNamespace(records=[]))
    ctl = RunController(app, panels, RunState(3), mode or TrainMode(), runs)  # type: ignore
    ctl.said = said   # type: ignore[attr-defined]
    return ctl


def progress(epoch: int = 1, batch: int = 5) -> BatchEnd:
    return BatchEnd(epoch, batch, 10, 160, 100.0, 0.5, 0.8, threads=2)
