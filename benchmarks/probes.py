"""Programs the benchmarks run in a fresh process, each started as
`python -m benchmarks.probes NAME [ARG]` and printing its measure on the last line.

A fresh process is the point: a process's earlier tensor work changes its threads, and the
times from start-up (first paint, first batch) include the imports. Nothing is imported at the
top of this module, so those imports are the probe's own.
"""

from __future__ import annotations

import sys


def tui_run(config_json: str) -> float:
    """Curves redraws per second while the app trains `config_json` (Start pressed once the app
    is idle), in Textual's headless harness; the run's metrics give its images/s."""
    import asyncio
    import json
    import time

    from tui_trainer.core.config import TrainConfig
    from tui_trainer.ui.app import SmtuiApp
    from tui_trainer.ui.panels.curves import CurvesPanel

    redraws: list[float] = []
    original = CurvesPanel.redraw

    def counting(self):
        if self.dirty and self.app.state.running and self.series.get("train loss", ([],))[0]:
            redraws.append(time.perf_counter())   # while training, after the first batch
        original(self)
    CurvesPanel.redraw = counting

    async def main() -> None:
        app = SmtuiApp(TrainConfig.from_dict(json.loads(config_json)))
        async with app.run_test(size=(120, 40)) as pilot:
            while app.status_bar.state != "idle":     # first paint and imports done
                await pilot.pause(0.05)
            await pilot.pause(0.5)
            await pilot.press("s")
            while app.state.running or app.state.last_status == "idle":
                await asyncio.sleep(0.1)   # not pilot.pause: it pings every widget, a user not
    asyncio.run(main())
    span = redraws[-1] - redraws[0] if len(redraws) > 1 else 0.0
    return (len(redraws) - 1) / span if span else 0.0


def first_paint() -> float:
    """The wall-clock time at which the app is first ready (drawn), headless."""
    import time

    from tui_trainer.ui.app import SmtuiApp

    stamp: list[float] = []

    class Probe(SmtuiApp):
        def on_ready(self) -> None:
            stamp.append(time.time())
            self.exit()
    Probe().run(headless=True, size=(100, 30))
    return stamp[0]


def first_batch() -> float:
    """The wall-clock time at which the book's run has trained its first batch."""
    import time

    from tui_trainer.core.config import TrainConfig
    from tui_trainer.core.events import BatchEnd, Control
    from tui_trainer.loop.train import fit, prepare

    control = Control()
    stamp: list[float] = []

    def listener(e) -> None:
        if isinstance(e, BatchEnd) and not control.stop.is_set():
            stamp.append(time.time())
            control.request_stop()
    fit(prepare(TrainConfig(epochs=1), create_run=False), listener, control)
    return stamp[0]


def bare(epochs: str) -> float:
    """Steady epoch seconds of the bare inline loop on the full data, on the CPU."""
    import torch

    from benchmarks.loops import bare_epochs, steady
    from tui_trainer.core import data

    d = data.load_fashion_mnist(dataset="full")
    return steady(bare_epochs(d, int(epochs), torch.device("cpu")))


def script_run(mode: str, epochs: str) -> float:
    """Steady images/s of a learner's own scratch net (the book's code) trained by
    `d2l.train_ch3`'s machinery: `live` in the app (Textual's headless harness, as a terminal
    would show it), `lines` as in a pipe."""
    import asyncio

    from benchmarks.loops import steady
    from tui_trainer.tools.book_3_6 import book_scratch_session
    from tui_trainer.learner.script import EpochLines
    from tui_trainer.loop.train import fit

    session = book_scratch_session(int(epochs))
    if mode == "live":
        from tui_trainer.ui.app import SmtuiApp

        async def main() -> None:
            app = SmtuiApp(session.config, script=session)
            async with app.run_test(size=(120, 40)):
                while app.is_running and len(session.history) < int(epochs):
                    await asyncio.sleep(0.1)
        asyncio.run(main())
    else:
        fit(session, EpochLines(session.config.epochs))
    return 60000 / steady([row["seconds"] for row in session.history])


PROBES = {"tui-run": tui_run, "first-paint": first_paint, "first-batch": first_batch,
          "bare": bare, "script": script_run}


def command(name: str, *args: str) -> list[str]:
    """The command line that runs probe `name` in a fresh Python."""
    return [sys.executable, "-m", "benchmarks.probes", name, *args]


if __name__ == "__main__":
    print(repr(PROBES[sys.argv[1]](*sys.argv[2:])))
