"""The analysis of a run's test predictions, by hand: confusion, top-k, the reject option; the
Analysis tab's keys."""

from __future__ import annotations

import json

import pytest
import torch

from tests.support.app import make_app, train_to_end
from tests.support.waits import wait_for
from tui_trainer.labs.analysis import (confusion_matrix, per_class_accuracy, reject_curve,
                                       topk_accuracy)
from tui_trainer.core.config import TrainConfig
from tui_trainer.loop.train import fit, prepare
from tui_trainer.ui.panels.analysis import AnalysisPanel


# Four images, three classes: predictions 0, 1, 1, 2 with confidences 0.9, 0.6, 0.5, 0.4.
PROBS = torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.3, 0.5, 0.2], [0.35, 0.25, 0.4]])


LABELS = torch.tensor([0, 1, 0, 0])


def test_confusion_and_per_class_by_hand():
    cm = confusion_matrix(PROBS, LABELS, num_classes=3)
    assert cm.tolist() == [[1, 1, 1], [0, 1, 0], [0, 0, 0]]
    assert per_class_accuracy(cm) == pytest.approx([1 / 3, 1.0, 0.0])


def test_topk_by_hand():
    assert topk_accuracy(PROBS, LABELS, 1) == pytest.approx(0.5)
    assert topk_accuracy(PROBS, LABELS, 2) == pytest.approx(1.0)  # image 4: 0 is second


def test_reject_curve_by_hand():
    rows = reject_curve(PROBS, LABELS, thresholds=(0.0, 0.55, 0.95))
    assert rows[0] == {"threshold": 0.0, "coverage": 1.0, "accuracy": 0.5}
    assert rows[1]["coverage"] == 0.5 and rows[1]["accuracy"] == 1.0   # answers images 1, 2
    assert rows[2]["coverage"] == 0.0 and rows[2]["accuracy"] is None   # JSON has no NaN


def test_analysis_json_written_each_epoch(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), epochs=2,
                                  batch_size=16, lr=0.5, device="cpu"))
    fit(session, lambda e: None)
    a = json.loads(session.run.analysis_path.read_text())
    assert a["epoch"] == 2 and len(a["confusion"]) == 10
    assert sum(map(sum, a["confusion"])) == 20
    assert a["top1"] == pytest.approx(session.history[-1]["test_acc"])
    assert a["top1"] <= a["top2"] <= a["top3"]


@pytest.mark.app
async def test_analysis_tab_threshold_keys(small_data_dir, tmp_path):
    app = make_app(small_data_dir, tmp_path / "runs", epochs=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        await pilot.press("4")
        panel = app.query_one(AnalysisPanel)
        await wait_for(pilot, lambda: panel.probs is not None)
        await wait_for(pilot, lambda: panel.rule is not None)
        await pilot.press("minus")
        assert panel.threshold == pytest.approx(0.85)
        expected = reject_curve(panel.probs, panel.labels, (0.85,))[0]
        assert panel.rule == expected and 0 <= panel.rule["coverage"] <= 1
        await pilot.press("plus", "plus")
        assert panel.rule["threshold"] == pytest.approx(0.95)


@pytest.mark.parametrize("coverage", [0.6235, 0.3765, 0.0005, 0.9995, 1.0])
def test_the_reject_options_shares_add_up(coverage):
    """The analysis tab's line: answers X% and abstains on Y%, with X + Y = 100.0 as shown."""
    import re

    from tui_trainer.labs.analysis import reject_curve
    from tui_trainer.ui.panels.analysis import rule_summary

    n = 10000
    answered = round(coverage * n)
    probs = torch.full((n, 10), 0.1)               # unsure
    probs[:answered] = torch.eye(10)[0]            # confident and right
    labels = torch.zeros(n, dtype=torch.long)
    text = rule_summary(reject_curve(probs, labels, (0.5,))[0])
    x, y = map(float, re.search(r"answers ([\d.]+)%.*abstains on ([\d.]+)%", text).groups())
    assert round(x + y, 1) == 100.0
