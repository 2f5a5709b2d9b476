"""The weights tab: the class templates of a linear model, drawn on a diverging scale."""

from __future__ import annotations


import pytest
import torch

from tests.support.waits import wait_for
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.models import build_model, class_templates
from tui_trainer.ui.panels.weights import NEUTRAL, WeightsPanel, diverging


def test_templates_are_the_models_own_weights():
    scratch = build_model("scratch")
    W, b = class_templates(scratch.net)
    assert W.shape == (10, 784) and torch.equal(W, scratch.net.W.detach().t())
    assert torch.equal(b, scratch.net.b.detach())
    concise = build_model("concise")
    W, b = class_templates(concise.net)
    assert torch.equal(W, concise.net[1].weight.detach())
    W.add_(1.0)                                        # a copy: drawing never touches training
    assert not torch.equal(W, concise.net[1].weight.detach())
    assert class_templates(build_model("mlp").net) is None


def test_the_colour_scale_diverges_around_zero():
    assert diverging(0.0, 1.0).triplet == NEUTRAL
    red, blue = diverging(1.0, 1.0).triplet, diverging(-1.0, 1.0).triplet
    assert red.red > red.blue and blue.blue > blue.red
    assert diverging(5.0, 1.0) == diverging(1.0, 1.0)          # clipped at the scale
    half = diverging(0.5, 1.0).triplet
    assert NEUTRAL[0] < half.red < red.red


@pytest.mark.app
async def test_the_tab_draws_a_linear_models_templates_and_explains_the_mlp(small_data_dir,
                                                                          tmp_path):
    from tui_trainer.ui.app import SmtuiApp

    for model, drawn in (("scratch", True), ("mlp", False)):
        app = SmtuiApp(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), model=model,
                                   batch_size=16, epochs=1, device="cpu",
                                   optimizer="adam" if model == "mlp" else "sgd",
                                   lr=0.01 if model == "mlp" else 0.1))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("s")
            await wait_for(pilot, lambda: app.controller.state.last_status == "finished")
            await pilot.press("8")
            panel = app.query_one(WeightsPanel)
            await wait_for(pilot, lambda: panel.epoch == 1 or panel.note != panel.EMPTY)
            await pilot.pause()
            assert bool(panel.tiles) is drawn
            if drawn:
                assert len(panel.tiles) == 10 and len(panel.biases) == 10
                screen = "\n".join(panel.render_line(y).text
                                   for y in range(panel.size.height))
                assert "ankle boot" in screen and "b +" in screen or "b -" in screen
            else:
                assert panel.note == panel.NOT_LINEAR
