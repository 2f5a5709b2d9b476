"""The TUI under stress: divergence, quit while evaluating, stop-start, reset mid-run, mashed
keys."""

from __future__ import annotations

import pytest
import json
import random
import threading
import time


from tests.support.app import make_app
from tests.support.waits import wait_for
from tui_trainer.loop import run_loop as skeleton
from tui_trainer.ui.panels.form import ConfigForm
from tui_trainer.ui.panels.status import StatusBar


@pytest.mark.app
async def test_divergence_is_shown_and_the_app_stays_responsive(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", softmax="naive", lr=1e4, epochs=3)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.controller.state.last_status == "diverged")
        assert app.query_one(StatusBar).state == "diverged"
        assert not app.query_one(ConfigForm).disabled
        await pilot.press("2", "3", "4", "1")      # still answering keys
        assert app.panels.tabs.active == "setup"
        status = json.loads(next((tmp_path / "runs").iterdir()).joinpath("status.json").read_text())
        assert status["state"] == "diverged" and "--softmax stable" in status["message"]


@pytest.mark.app
async def test_quit_while_evaluating(data_dir, tmp_path, monkeypatch):
    evaluating = threading.Event()
    real = skeleton.predict_probs

    def slow(model, data_iter, device, control):
        """A long evaluation: it goes on until the quit's stop request reaches it."""
        evaluating.set()
        control.stop.wait(timeout=30)
        return real(model, data_iter, device, control)

    monkeypatch.setattr(skeleton, "predict_probs", slow)
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, evaluating.is_set)
        start = time.monotonic()
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=30)
        # About 2 s at most on an idle machine; the bound is loose so that a loaded machine
        # cannot fail it (what matters: the app leaves without waiting for the run's end).
        assert time.monotonic() - start < 20.0


@pytest.mark.app
async def test_stop_then_start_again_makes_a_new_run(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(2):
            await pilot.press("s")
            await wait_for(pilot, lambda: app.controller.state.status == "training")
            await pilot.press("x")
            await wait_for(pilot, lambda: app.controller.state.last_status == "stopped")
            app.controller.state.last_status = "idle"
        assert len(list((tmp_path / "runs").iterdir())) == 2


@pytest.mark.app
async def test_reset_mid_run(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.controller.state.status == "training")
        await pilot.press("r")
        await wait_for(pilot, lambda: not app.controller.state.running)
        assert app.controller.state.last_status == "stopped" and app.panels.tabs.active == "setup"
        assert app.panels.curves.series["train loss"] == ([], [])   # late events of the run dropped
        assert app.panels.predictions.probs is None
        assert not app.panels.form.disabled
        run_dir = next((tmp_path / "runs").iterdir())
        assert (run_dir / "checkpoint.pt").is_file()       # nothing lost


@pytest.mark.app
async def test_keys_mashed_while_a_run_goes_on(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs", epochs=500, batch_size=4)
    keys = ["s", "space", "x", "r", "n", "m", "c", "1", "2", "3", "4", "left", "right", "up",
            "down", "question_mark", "escape", "tab"]
    rng = random.Random(0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.controller.state.status == "training")
        for _ in range(60):
            await pilot.press(rng.choice(keys))
        if app.screen is not app.screen_stack[0]:
            await pilot.press("escape")
        app.set_focus(None)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.controller.state.running)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=5)
    for run_dir in (tmp_path / "runs").iterdir():
        for line in (run_dir / "metrics.jsonl").read_text().splitlines() \
                if (run_dir / "metrics.jsonl").exists() else []:
            json.loads(line)
