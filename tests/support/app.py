"""The app under Pilot with small, quick settings, and what a snapshot needs fixed."""

from __future__ import annotations

from .waits import wait_for


def make_app(data_dir, out, **kw):
    """The app with a small, quick config (batch 16, 2 epochs, lr 0.5, CPU) writing to `out`."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp

    base = dict(data_dir=str(data_dir), out=str(out), batch_size=16, epochs=2, lr=0.5,
                device="cpu")
    return SmtuiApp(TrainConfig(**{**base, **kw}))


def long_app(data_dir, out, **kw):
    """An app whose run lasts until the test ends it (batch 4, 500 epochs)."""
    return make_app(data_dir, out, **{"batch_size": 4, "epochs": 500, **kw})


async def train_to_end(pilot, app, timeout: float = 60.0) -> None:
    """Press Start and wait until the run has ended; it must have finished."""
    await pilot.press("s")
    await wait_for(
        pilot,
        lambda: not app.controller.state.running and app.controller.state.last_status != "idle",
        timeout,
    )
    assert app.controller.state.last_status == "finished", (
        f"the run ended {app.controller.state.last_status}"
    )


class FixedMeter:
    """The machine's figures, fixed, for snapshots (the real ones change from run to run)."""

    def sample(self) -> dict:
        return {"cpu_percent": 50.0, "memory_mb": 800.0}


def fix_machine(app) -> None:
    app.meter = FixedMeter()
    app.show_machine()
