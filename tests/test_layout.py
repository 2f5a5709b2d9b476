"""Every tab at 80x24, the size the README calls comfortable, in a state with data: SVG
snapshots, and the checks that the snapshots alone would not make (every image reachable, the log
at the latest line and as wide as the window).

The data is made up but fixed (a seeded generator), and fed to the app as the training loop's
own events, so each snapshot is the same on every run: no timing, no clock.
"""

from __future__ import annotations


import re

import pytest
import torch

from tests.support.app import fix_machine
from tests.support.waits import wait_for
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import EpochEnd, RunEnded, RunStarted
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.messages import TrainingEvent
from tui_trainer.ui.panels.predictions import SampleGrid
from tui_trainer.ui.panels.runs import RunRecord
from tui_trainer.ui.panels.status import StatusBar

SIZE = (80, 24)


def made_up_events() -> list:
    g = torch.Generator().manual_seed(7)
    labels = torch.arange(40) % 10
    images = torch.randint(0, 80, (40, 28, 28), generator=g, dtype=torch.uint8)
    for i, c in enumerate(labels.tolist()):
        images[i, 2 * c + 2:2 * c + 6, 4:24] = 240
    config = TrainConfig(device="cpu", epochs=3).to_dict()
    events = [RunStarted(config, "cpu", "full", "/data", 60000, 40, 0, None, images, labels)]
    for epoch, (loss, acc, test) in enumerate([(0.78, 0.75, 0.78), (0.57, 0.81, 0.80),
                                               (0.53, 0.83, 0.81)], start=1):
        logits = torch.randn(40, 10, generator=g) + 3.0 * epoch * torch.eye(10)[labels]
        W = torch.randn(10, 784, generator=g) * 0.1
        events.append(EpochEnd(epoch, loss, acc, test, 1.0, 0.1, logits.softmax(dim=1),
                               (W, torch.linspace(-1, 1, 10))))
    events.append(RunEnded("finished", 3, "training finished"))
    return events


async def with_data(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.query_one(StatusBar).state == "idle")
    app.log_message = lambda text, style=None: None     # the log's times would change

    fix_machine(app)  # nor may the machine's figures
    app.runs.comparison.records = [
        RunRecord(
            f"20261124-10000{i}-scratch",
            {**TrainConfig().to_dict(), "lr": lr},
            [1.0, 2.0, 3.0],
            [0.7 + i / 50, 0.75 + i / 50, 0.77 + i / 50],
            "finished",
        )
        for i, lr in enumerate((0.1, 0.03))
    ]
    app.runs.refresh()
    for event in made_up_events():
        app.post_message(TrainingEvent(event))
    await wait_for(pilot, lambda: app.controller.state.last_status == "finished")   # the last event
    app.redraw(force=True)
    await pilot.pause()


async def show_tab(pilot, tab: str) -> None:
    """Switch to `tab` and wait until it is shown and drawn from the latest data."""
    app = pilot.app
    app.action_tab(tab)
    await wait_for(pilot, lambda: app.panels.tabs.active == tab)
    await pilot.pause()                     # the tab's call_after_refresh work
    app.redraw(force=True)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def tab_app() -> SmtuiApp:
    return SmtuiApp(TrainConfig(device="cpu", threads="2"))


@pytest.mark.app
@pytest.mark.parametrize("tab", ["curves", "predictions", "analysis", "runs", "numerics",
                                 "weights"])
def test_snapshot_of_every_tab_at_80x24(snap_compare, tab):
    async def run_before(pilot) -> None:
        await with_data(pilot)
        await show_tab(pilot, tab)

    assert snap_compare(tab_app(), terminal_size=SIZE, run_before=run_before)


@pytest.mark.app
async def test_every_image_is_reachable_with_the_arrows_at_80x24():
    app = tab_app()
    async with app.run_test(size=SIZE) as pilot:
        await with_data(pilot)
        await pilot.press("3")
        grid = app.query_one(SampleGrid)
        await wait_for(pilot, lambda: grid.capacity > 0)
        shown = grid.capacity
        assert shown < len(grid.images)                   # not all fit at once
        for _ in range(len(grid.images)):
            await pilot.press("right")
        assert grid.selected == len(grid.images) - 1
        assert grid.top_row * grid.columns <= grid.selected < grid.top_row * grid.columns + shown
        await pilot.press("up")
        assert grid.selected == len(grid.images) - 1 - grid.columns


@pytest.mark.app
async def test_the_log_shows_its_latest_line_at_the_windows_width():
    app = tab_app()
    async with app.run_test(size=(160, 24)) as pilot:
        long = "x" * 120                                  # fits in 160 columns, not in 78
        for i in range(60):                               # written while the tab is hidden
            app.log_message(f"line {i} {long}")
        await pilot.press("7")
        log = app.log_view
        await wait_for(pilot, lambda: not log.stale and
                       any(line.text.endswith(f"line 59 {long}") for line in log.lines))
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y > 0)   # at its end
        texts = [line.text for line in log.lines]
        assert any(t.endswith(f"line 59 {long}") for t in texts)   # one line, not wrapped


@pytest.mark.app
def test_snapshot_of_the_train_view_at_160x48(snap_compare):
    async def run_before(pilot) -> None:
        await with_data(pilot)
        await show_tab(pilot, "train")

    assert snap_compare(tab_app(), terminal_size=(160, 48), run_before=run_before)


@pytest.mark.app
@pytest.mark.parametrize("size, shown", [((80, 24), False), ((139, 48), False),
                                         ((140, 40), True), ((200, 60), True)])
async def test_the_train_view_is_offered_on_big_terminals_only(size, shown, small_data_dir,
                                                              tmp_path):
    app = SmtuiApp(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=1,
                               batch_size=16, device="cpu"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.query_one("#--content-tab-train").display is shown
        await pilot.press("s")
        assert app.panels.tabs.active == ("train" if shown else "curves")
        await wait_for(pilot, lambda: not app.controller.state.running)
        assert app.controller.state.last_status == "finished"
        if shown:
            app.redraw(force=True)
            await wait_for(pilot, lambda: app.panels.dash_curves.series.get("test acc", ([],))[0])
            assert app.panels.dash_curves.series["test acc"][0] == [1]   # mirrors the curves
            assert app.panels.dash_preds.probs is not None


@pytest.mark.app
async def test_the_train_key_says_why_on_a_small_terminal():
    app = tab_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("9")
        assert app.panels.tabs.active != "train"
        assert any("140x40" in line.plain for line in app.log_view.texts)


@pytest.mark.app
async def test_shrinking_below_the_train_view_falls_back_to_the_curves():
    app = tab_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("9")
        assert app.panels.tabs.active == "train"
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: app.panels.tabs.active == "curves")   # at the redraw tick


@pytest.mark.app
@pytest.mark.parametrize("width", [60, 80, 140])
async def test_the_status_bar_drops_whole_parts_never_a_unit(width):
    """At 80 columns the status bar cut `mem 653` without its unit and a viewer's figures to
    `· ru`: now whole parts go, the least needed first; state, pace, ETA and data stay."""
    app = SmtuiApp(TrainConfig(device="cpu"))
    async with app.run_test(size=(width, 24)) as pilot:
        bar = app.panels.status_bar
        bar.state, bar.device, bar.dataset, bar.threads = "training", "cpu", "full", 2
        bar.machine = "run: cpu 183% · mem 1.2 GB"
        bar.progress(3, 10, 50, 100, 24160.0, 65.0)
        await pilot.pause()
        line = bar.render().plain.splitlines()[1]
        parts = line.split(" · ")
        assert parts[:4] == ["training", "24,160 img/s", "ETA 1:05", "full data"], line
        whole = re.compile(r"training|[\d,]+ img/s|ETA \d+:\d+|full data|2 threads|"
                           r"(run: )?cpu \d+%|mem [\d.]+ (MB|GB)")
        assert all(whole.fullmatch(p) for p in parts) and len(line) <= width - 2, line
        assert sum("cpu" in p for p in parts) <= 1, line   # "cpu" says one thing
        if width >= 140:
            assert len(parts) == 7, line


@pytest.mark.app
async def test_the_status_bar_keeps_two_rows_at_any_epoch_count():
    """`epoch 97/100000` at 100x30: the percentage stays on the bar's row and the state, pace
    and ETA on theirs (the bar pushed them off)."""
    app = SmtuiApp(TrainConfig(device="cpu"))
    async with app.run_test(size=(100, 30)) as pilot:
        bar = app.panels.status_bar
        bar.state = "training"
        bar.progress(97, 100000, 3, 10, 27488.0, 900.0)
        await pilot.pause()
        rows = bar.render().plain.splitlines()
        assert len(rows) == 2 and rows[0].startswith("epoch 97/100000 ")
        assert rows[0].endswith(" 30%") and len(rows[0]) <= 98, rows[0]
        assert rows[1].startswith("training · 27,488 img/s · ETA 15:00"), rows[1]
