"""The many-classes lab (exercise 5): each figure against what it must be by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.support.app import make_app
from tests.support.runs import run_cli
from tests.support.waits import wait_for
from tui_trainer.labs.many_classes import (BATCH, INPUTS, ClassesRow, measure, parse_classes,
                                           report, sampled_logits)


def test_parse_classes_reads_lists_and_refuses_what_is_not_a_count():
    assert parse_classes("1000, 10;1e5,10") == [10, 1000, 100_000]
    for text, message in (("10,x", "not a number: 'x'"), ("10.5", "whole number"),
                          ("1", "from 2 to"), ("2000000", "from 2 to"), ("", "one or more"),
                          ("inf", "whole number")):
        with pytest.raises(ValueError, match=message):
            parse_classes(text)


def test_sampled_softmax_with_every_class_as_a_negative_is_the_full_softmax():
    torch.manual_seed(0)
    V = 7
    X, W, b = torch.rand(5, 3), torch.randn(V, 3), torch.randn(V)
    y = torch.tensor([0, 3, 6, 3, 1])
    negatives = torch.arange(V)        # S = V: the correction log(S / V) is 0
    logits = sampled_logits(X, W[y], b[y], W[negatives], b[negatives], y, negatives, V)
    assert logits.shape == (5, 1 + V)
    for i in range(5):                 # the row's own class among the negatives: -inf
        assert logits[i, 1 + y[i]] == float("-inf")
    sampled = F.cross_entropy(logits, torch.zeros_like(y))
    torch.testing.assert_close(sampled, F.cross_entropy(X @ W.t() + b, y))


def test_sampled_logits_subtract_the_log_expected_count():
    X, W, b = torch.ones(1, 2), torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), torch.zeros(3)
    y, negatives = torch.tensor([0]), torch.tensor([1, 2])
    logits = sampled_logits(X, W[y], b[y], W[negatives], b[negatives], y, negatives, 100)
    # true: 1; negatives 2 and 2, each minus log(2 / 100)
    torch.testing.assert_close(logits, torch.tensor([[1.0, 2 - math.log(0.02),
                                                      2 - math.log(0.02)]]))


def test_at_initialisation_each_probability_is_about_one_over_v_and_the_loss_log_v():
    for V in (10, 500):
        row = measure(V)
        assert row.p_true == pytest.approx(1 / V, rel=0.1)
        assert row.loss == pytest.approx(math.log(V), abs=0.05)
        assert 1 / V <= row.p_max < 2 / V
        # weights, their gradient, the logits and theirs, the bias and its gradient
        assert row.full_mb == pytest.approx((2 * V * INPUTS + 2 * BATCH * V + 2 * V) * 4 / 1e6)
        assert row.full_ms > 0
        assert row.sampled_ms is None          # too few classes to sample from
    assert measure(10).classes_hit == 10
    assert measure(500).classes_hit <= BATCH


def test_most_classes_get_little_gradient_and_sampling_saves_with_a_bias():
    row = measure(20_000, samples=256)
    assert row.classes_hit <= BATCH
    assert row.absent_over_present < 0.1      # about BATCH / V of a target's
    assert row.sampled_ms > 0 and row.speedup > 0
    assert row.sampled_mb < row.full_mb
    # The sampled loss underestimates the full one on an uneven (Zipf) model.
    assert row.full_loss_zipf > 0 and row.bias < 0


def fake_row(v: int, sampled: bool) -> ClassesRow:
    return ClassesRow(v, 1 / v, 1.5 / v, math.log(v), v / 100, v / 1000, min(v, 256), 0.01,
                      v / 1000 if sampled else None, 1.0 if sampled else None,
                      5.0 if sampled else None, 4.9 if sampled else None)


def test_report_fits_the_tab_at_80_columns_and_answers_from_the_numbers():
    rows = [fake_row(10, False), fake_row(100_000, True)]
    text = report(rows, samples=1024, threads=2)
    assert max(len(line) for line in text.splitlines()) <= 74   # the tab at 80 columns
    assert "Exercise 5" in text and "100,000" in text
    prose = " ".join(text.split())
    assert "10.0x faster at V = 100,000" in prose      # 1000 ms / 100 ms
    assert "-0.10 off" in prose                         # 4.9 - 5.0
    assert "nothing to save" in text


@pytest.mark.parametrize("args, message", [
    (["--classes", "10,x"], "--classes: not a number: 'x'"),
    (["--classes", "10", "--samples", "0"], "--samples must be from 1"),
    (["--samples", "5"], "--samples goes with --classes"),
])
def test_classes_lab_bad_input_is_one_line(capsys, args, message):
    code, out, err = run_cli(capsys, "numerics", *args)
    assert code == 2 and err.startswith("smtui: error: ") and message in err
    assert len(err.splitlines()) == 1


def test_a_layer_too_large_for_memory_is_one_line(capsys, monkeypatch):
    from tui_trainer.labs import many_classes as classes

    def refuse(v, samples):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                           "3136000000 bytes.\nmore detail")
    monkeypatch.setattr(classes, "measure", refuse)
    code, out, err = run_cli(capsys, "numerics", "--classes", "1000000")
    assert code == 1 and len(err.strip().splitlines()) == 2   # the progress line, the error
    assert err.strip().splitlines()[-1].startswith(
        "smtui: error: --classes 1,000,000: could not measure: DefaultCPUAllocator")


def test_classes_lab_from_the_command_line(capsys):
    code, out, err = run_cli(capsys, "numerics", "--classes", "10,5000", "--samples", "64")
    assert code == 0
    assert "     5,000" in out and "x faster at V = 5,000" in " ".join(out.split())
    assert "5,000 classes measured" in err


@pytest.mark.app
async def test_classes_lab_in_the_numerics_tab(data_dir, tmp_path):
    app = make_app(data_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("6")
        field = app.query_one("#classes")
        field.value = "10, x"
        await field.action_submit()
        out = app.query_one("#classes-out")
        await wait_for(pilot, lambda: "invalid input" in str(out.render()))
        field.value = "10, 60"
        await field.action_submit()
        await wait_for(pilot, lambda: "classes V" in str(out.render()), timeout=60)
        assert "        60" in str(out.render())
