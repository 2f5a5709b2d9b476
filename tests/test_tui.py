"""The TUI driven by Textual's Pilot: runs, controls, validation, layout, and SVG snapshots."""

from __future__ import annotations


import pytest
from tests.support.app import long_app, fix_machine, make_app, train_to_end
from tests.support.waits import settle, wait_for

from tui_trainer.core.config import TrainConfig
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.panels.curves import CurvesPanel, downsample
from tui_trainer.ui.panels.form import ConfigForm
from tui_trainer.ui.panels.predictions import PredictionsPanel, SampleGrid
from tui_trainer.ui.panels.status import StatusBar


@pytest.mark.app
async def test_start_to_epoch_end_updates_curves_and_predictions(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await train_to_end(pilot, app)
        curves = app.query_one(CurvesPanel)
        assert curves.series["test acc"][0] == [1, 2]
        grid = app.query_one(SampleGrid)
        assert grid.images == []           # the hidden predictions tab is drawn when shown
        await pilot.press("3")
        await wait_for(pilot, lambda: len(grid.images) > 0)
        assert len(grid.images) > 0 and len(grid.images[0]) == 14
        assert grid.trues[:4] == [0, 1, 2, 3]  # the book's predict_ch3: first test images
        assert not app.query_one(ConfigForm).disabled
        run_dir = next((tmp_path / "runs").iterdir())
        assert load_checkpoint(run_dir)["epoch"] == 2


@pytest.mark.app
async def test_progress_inside_an_epoch_is_drawn_at_its_fraction(data_dir, tmp_path):
    """The train curves get points inside an epoch, at fractional epochs. Checked where the run
    pauses, whose progress is always posted: a backlog of progress reports collapses into the
    newest, so on a loaded machine a quick epoch may show only its end."""
    app = long_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        await pilot.press("space")
        xs = app.query_one(CurvesPanel).series

        def inside() -> bool:
            return any(x != int(x) for x in xs.get("train loss", ([],))[0])
        await wait_for(pilot, inside, what="a point inside an epoch")
        await pilot.press("x")
        await wait_for(pilot, lambda: app.controller.state.last_status == "stopped")


@pytest.mark.app
async def test_form_locked_during_run_and_start_twice(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        assert app.query_one(ConfigForm).disabled
        await pilot.press("s")   # a second start is refused, not a second run
        await settle(pilot)
        assert len(app.controller.state.controls) == 1
        await pilot.press("x")
        await wait_for(pilot, lambda: app.controller.state.last_status == "stopped")
        assert not app.query_one(ConfigForm).disabled
        assert len(list((tmp_path / "runs").iterdir())) == 1


@pytest.mark.app
async def test_pause_and_resume(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        await pilot.press("space")
        assert app.query_one(StatusBar).state == "paused"
        control = app.controller.state.control
        await wait_for(pilot, lambda: control.paused_seconds > 0, what="the loop waiting")
        await settle(pilot)   # the reports of the batches done before the pause are drawn
        before = list(app.query_one(CurvesPanel).series["train loss"][0])
        waited = control.paused_seconds
        await wait_for(pilot, lambda: control.paused_seconds > waited + 0.5,
                       what="the loop waiting on")
        await settle(pilot)
        assert app.query_one(CurvesPanel).series["train loss"][0] == before  # no progress
        await pilot.press("space")
        await wait_for(pilot, lambda: len(app.query_one(CurvesPanel).series["train loss"][0])
                       > len(before))
        await pilot.press("x")
        await wait_for(pilot, lambda: app.controller.state.last_status == "stopped")


@pytest.mark.app
async def test_the_bar_shows_exactly_where_a_run_paused_and_stopped(data_dir, tmp_path):
    """Progress is posted four times a second, but never the point a run pauses or stops at
    (the bar stayed at the last epoch's 100% while the run waited mid-epoch)."""
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        bar = app.query_one(StatusBar)

        def expected(state: dict) -> tuple[str, float]:
            epoch, batch, num_batches = state["epoch"], state["batch"], 2000 // 4   # data_dir
            return (f"epoch {epoch + 1}/500", batch / num_batches) if batch else \
                (f"epoch {epoch}/500", 1.0)

        await pilot.press("s")
        await wait_for(pilot, lambda: bar.state == "training")
        control = app.controller.state.control
        try:
            await pilot.press("space")
            await wait_for(pilot, lambda: control.paused_seconds > 0, what="the loop waiting")
            run_dir = next((tmp_path / "runs").iterdir())
            # The last epoch's checkpoint goes (nothing writes while the loop waits): the one
            # that appears is that of the point it waits at.
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
            await pilot.press("c")
            await wait_for(pilot, lambda: (run_dir / "checkpoint.pt").exists())
            state = load_checkpoint(run_dir)
            await wait_for(pilot, lambda: (bar.epoch_text, bar.fraction) == expected(state),
                           what=f"the bar at the pause {expected(state)}")
            await pilot.press("space")
            await pilot.press("x")
            await wait_for(pilot, lambda: app.controller.state.last_status == "stopped")
            state = load_checkpoint(run_dir)
            await wait_for(pilot, lambda: (bar.epoch_text, bar.fraction) == expected(state),
                           what=f"the bar at the stop {expected(state)}")
        finally:
            control.request_stop()   # a failed check leaves no paused loop behind


@pytest.mark.app
async def test_closing_the_app_on_a_paused_run_leaves_no_loop_waiting(data_dir, tmp_path):
    """An app closed while its run is paused (a test that failed mid-run, a program embedding
    the app) stops the run: its thread ends and its checkpoint is written."""
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        control = app.controller.state.control
        await pilot.press("space")
        await wait_for(pilot, lambda: control.paused_seconds > 0, what="the loop waiting")
    assert control.finished.wait(60), "the paused loop is still waiting"
    assert load_checkpoint(next((tmp_path / "runs").iterdir()))["epoch"] < 500


@pytest.mark.app
async def test_stop_saves_a_checkpoint(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        await pilot.press("x")
        await wait_for(pilot, lambda: app.controller.state.last_status == "stopped")
        state = load_checkpoint(next((tmp_path / "runs").iterdir()))
        assert state["epoch"] < 500


@pytest.mark.app
async def test_quit_mid_run_leaves_as_soon_as_the_run_has_stopped(data_dir, tmp_path,
                                                                 monkeypatch):
    """q during a run stops it at its next batch with a checkpoint, and the app leaves on the
    run's end: the grace timer (made an hour here) is for a run that cannot stop, never the
    wait of every quit (a quit in tmux took 1.7 s, 1.5 of them this timer)."""
    from tui_trainer.ui import app as app_module

    monkeypatch.setattr(app_module, "QUIT_GRACE_S", 3600.0)
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(StatusBar).state == "training")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=30, what="the app's exit")
    assert app.controller.state.last_status == "stopped"
    state = load_checkpoint(next((tmp_path / "runs").iterdir()))  # nothing lost
    assert state["epoch"] < 500


@pytest.mark.app
async def test_invalid_input_shows_why_and_blocks_start(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        lr = app.query_one("#field-lr")
        lr.value = "abc"
        await pilot.pause()
        assert "not a number" in str(app.query_one("#help-lr").render())
        assert app.query_one("#start").disabled
        lr.value = "-1"
        await pilot.pause()
        assert "positive" in str(app.query_one("#help-lr").render())
        app.set_focus(None)
        await pilot.press("s")
        await settle(pilot)
        assert not app.controller.state.running and not (tmp_path / "runs").exists()
        lr.value = "0.05"
        await pilot.pause()
        assert not app.query_one("#start").disabled


@pytest.mark.app
async def test_command_line_prefills_the_form(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", lr=0.05, model="mlp")
    async with app.run_test(size=(100, 30)):
        assert app.query_one("#field-lr").value == "0.05"
        assert app.query_one("#field-model").value == "mlp"
        config, errors = app.query_one(ConfigForm).read()
        assert errors == {} and config.lr == 0.05


@pytest.mark.app
async def test_reset_and_misclassified_toggle_and_new_samples(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=1, lr=0.01)
    async with app.run_test(size=(100, 30)) as pilot:
        await train_to_end(pilot, app)
        panel = app.query_one(PredictionsPanel)
        first = list(panel.indices)
        await pilot.press("n")
        assert panel.indices != first
        await pilot.press("m")
        grid = app.query_one(SampleGrid)
        assert all(t != p for t, p in zip(grid.trues, grid.preds))
        await pilot.press("r")
        assert app.query_one(CurvesPanel).series["test acc"] == ([], [])
        assert panel.probs is None


@pytest.mark.app
async def test_too_small_terminal_shows_a_notice(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(50, 15)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-narrow") and app.screen.has_class("-short")
        assert "Terminal too small" in str(app.query_one("#too-small").render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.screen.has_class("-narrow") and not app.screen.has_class("-short")


@pytest.mark.app
async def test_help_screen_opens_and_closes(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        app.set_focus(None)
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ != "HelpScreen"


def test_downsample_keeps_last_and_drops_non_finite():
    xs = list(range(1000))
    ys = [float(i) for i in range(1000)]
    ys[10] = float("inf")
    dx, dy = downsample(xs, ys, limit=100)
    assert len(dx) <= 100 and dx[0] == 0 and dx[-1] == 999 and float("inf") not in dy
    assert dx == sorted(dx) and len(dx) >= 90


def test_downsample_keeps_every_extreme_of_a_long_run():
    """5,000 epochs drawn from 120 points: the best accuracy (a one-epoch spike) and the worst
    dip are among them; evenly spaced points missed the best, which the runs table showed."""
    xs = [float(e) for e in range(1, 5001)]
    ys = [0.8 + 0.01 * ((e * 7919) % 13) / 13 for e in range(1, 5001)]
    ys[3137], ys[1234] = 0.9123, 0.61
    dx, dy = downsample(xs, ys)
    assert len(dx) <= 120 and max(dy) == 0.9123 and min(dy) == 0.61
    assert dx[dy.index(0.9123)] == 3138.0 and dx == sorted(dx)
    assert downsample([1.0, 2.0], [0.5, 0.6]) == ([1.0, 2.0], [0.5, 0.6])   # few: all of them


async def _core_loaded(pilot):
    await wait_for(pilot, lambda: pilot.app.query_one(StatusBar).state == "idle")
    fix_machine(pilot.app)   # the process's CPU and memory change from run to run
    await pilot.pause()


@pytest.mark.app
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_setup_screen(snap_compare, size, tmp_path):
    config = TrainConfig(device="cpu", out="runs")
    assert snap_compare(SmtuiApp(config), terminal_size=size, run_before=_core_loaded)


@pytest.mark.app
def test_snapshot_help_screen(snap_compare):
    assert snap_compare(SmtuiApp(TrainConfig(device="cpu")), press=["tab", "tab", "question_mark"],
                        terminal_size=(80, 24), run_before=_core_loaded)


@pytest.mark.app
def test_snapshot_of_the_command_palette(snap_compare):
    """ctrl+p with "preset" typed: smtui's presets, found by name."""
    async def run_before(pilot):
        await _core_loaded(pilot)
        await pilot.press("ctrl+p", *"preset")
        await wait_for(pilot, lambda: "Preset: mlp" in str(pilot.app.screen.query_one(
            "CommandList").get_option_at_index(2).prompt) if pilot.app.screen.query(
            "CommandList") and pilot.app.screen.query_one("CommandList").option_count > 2
            else False)
    assert snap_compare(SmtuiApp(TrainConfig(device="cpu")), terminal_size=(80, 24),
                        run_before=run_before)


@pytest.mark.app
def test_snapshot_of_the_setup_screen_in_a_light_theme(snap_compare):
    assert snap_compare(SmtuiApp(TrainConfig(device="cpu", out="runs"), theme="textual-light"),
                        terminal_size=(80, 24), run_before=_core_loaded)


def test_accuracy_axis_fits_the_data():
    panel = CurvesPanel()
    panel.reset(10)
    assert panel.accuracy_range() == (0.3, 1.0)          # nothing yet: the book's lower bound
    panel.add("train acc", 0.1, 0.1)                      # inside the first epoch: ignored
    for epoch, (train, test) in enumerate([(0.75, 0.78), (0.84, 0.82)], start=1):
        panel.add("train acc", epoch, train)
        panel.add("test acc", epoch, test)
    low, high = panel.accuracy_range()
    assert (low, high) == pytest.approx((0.7, 0.9))


@pytest.mark.app
async def test_resume_from_the_tui(data_dir, tmp_path):
    from tui_trainer.loop.train import fit, prepare
    session = prepare(TrainConfig(data_dir=str(data_dir), out=str(tmp_path / "runs"),
                                  batch_size=16, epochs=1, lr=0.5, device="cpu"))
    fit(session, lambda e: None)
    app = SmtuiApp(session.config.replace(epochs=2), resume=str(session.run.path))
    async with app.run_test(size=(100, 30)) as pilot:
        await train_to_end(pilot, app)
    rows = session.run.read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2]
    assert len(list((tmp_path / "runs").iterdir())) == 1   # continued, not a new run


@pytest.mark.app
async def test_training_thread_keeps_torch_threads_and_matches_headless(data_dir, tmp_path,
                                                                        monkeypatch):
    """The UI thread's tensor work runs serially (a second OpenMP team slows training), the
    training thread uses torch's default count, and a run in the app gives the numbers a
    headless run of the same config gives."""
    import json

    import torch

    from tui_trainer.loop import train

    default = torch.get_num_threads()
    seen: list[int] = []
    original = train.fit

    def recording(session, listener, control=None):
        seen.append(torch.get_num_threads())
        return original(session, listener, control)

    monkeypatch.setattr(train, "fit", recording)
    # The thread count fixed: with auto, the governor may take a thread away mid-run when the
    # CPU is shared (parallel tests), and a sum over another count of threads differs in its
    # last bits.
    app = make_app(data_dir, tmp_path / "runs", threads=str(default))
    async with app.run_test(size=(100, 30)) as pilot:
        await train_to_end(pilot, app)
        assert torch.get_num_threads() == 1          # this (the UI) thread
    assert seen == [default]
    torch.set_num_threads(default)
    rows = [json.loads(line) for line in next((tmp_path / "runs").iterdir()).joinpath(
        "metrics.jsonl").read_text().splitlines()]
    session = train.prepare(app.config.replace(out=str(tmp_path / "headless")),
                            create_run=False)
    original(session, lambda e: None)
    assert [(r["train_loss"], r["test_acc"]) for r in rows] == \
        [(h["train_loss"], h["test_acc"]) for h in session.history]


def test_halfblock_lines_colour_two_pixel_rows_per_cell():
    from tui_trainer.ui.panels.predictions import halfblock_lines

    pixels = [[0, 255], [10, 20], [30, 40], [50, 60]]
    lines = halfblock_lines(pixels)
    assert len(lines) == 2 and [len(line) for line in lines] == [2, 2]
    cell = lines[1][1]   # rows 2-3, column 1: 40 on top, 60 below
    assert cell.text == "▀"
    assert cell.style.color.triplet == (40, 40, 40) and cell.style.bgcolor.triplet == (60, 60, 60)


@pytest.mark.app
async def test_sample_grid_lines_show_labels_and_reuse_drawings(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=1)
    async with app.run_test(size=(100, 30)) as pilot:
        await train_to_end(pilot, app)
        await pilot.press("3")
        grid = app.query_one(SampleGrid)
        await wait_for(pilot, lambda: len(grid.images) > 0)
        first = grid.render_line(0)
        assert first.cell_length == grid.size.width
        assert first.text.startswith("▀" * 14)
        labels = grid.render_line(7).text + grid.render_line(8).text
        from tui_trainer.core.labels import TEXT_LABELS
        assert TEXT_LABELS[grid.trues[0]] in labels and TEXT_LABELS[grid.preds[0]] in labels
        assert set(grid.cache) >= set(grid.keys[:grid.columns])   # drawn once, kept by index
        cached = grid.cache[grid.keys[0]]
        panel = app.query_one(PredictionsPanel)
        panel.update_predictions(panel.probs)
        grid.render_line(0)
        assert grid.cache[grid.keys[0]] is cached


@pytest.mark.app
async def test_empty_sample_grid_wraps_its_notice(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(64, 24)) as pilot:
        await pilot.press("3")
        grid = app.query_one(SampleGrid)
        await wait_for(pilot, lambda: grid.size.width > 0)
        text = " ".join(grid.render_line(y).text.strip() for y in range(4))
        assert "No predictions yet: they appear at the end of each epoch." in text
        assert all(grid.render_line(y).cell_length == grid.size.width for y in range(4))
