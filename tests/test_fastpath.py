"""The linear models' gradient written out (fastpath.py) against the book's backward(): the same
losses, accuracies and weights, and the path taken only where it is the book's step."""

from __future__ import annotations

import pytest
import torch

from tests.support.runs import deterministic
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import EpochEnd
from tui_trainer.loop.fastpath import linear_step
from tui_trainer.loop.train import fit, prepare


def trained(data_dir, tmp_path, **kw):
    config = TrainConfig(data_dir=str(data_dir), out=str(tmp_path), batch_size=16, epochs=3,
                         threads="1", **kw)
    session = prepare(config, create_run=False)
    rows = []
    fit(session, lambda e: rows.append(e.metrics()) if isinstance(e, EpochEnd) else None)
    return rows, [p.detach().clone() for p in session.model.net.parameters()], session


@pytest.mark.parametrize("kw", [
    dict(model="scratch"),
    dict(model="concise"),
    dict(model="scratch", optimizer="torch-sgd", weight_decay=0.01),
    dict(model="concise", schedule="cosine", lr=0.3),
], ids=["scratch sgd", "concise sgd", "torch-sgd with weight decay", "cosine schedule"])
def test_the_analytic_step_equals_autograd(small_data_dir, tmp_path, kw):
    fast_rows, fast_weights, fast = trained(small_data_dir, tmp_path, gradient="analytic", **kw)
    book_rows, book_weights, book = trained(small_data_dir, tmp_path, gradient="autograd", **kw)
    assert linear_step(fast.model, fast.updater) is not None    # the fast path was taken
    for ours, theirs in zip(fast_rows, book_rows):
        for key in ("train_loss", "train_acc", "test_acc", "lr"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), key
    for ours, theirs in zip(fast_weights, book_weights):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert fast_rows[-1]["train_loss"] < fast_rows[0]["train_loss"]   # it learned


@pytest.mark.parametrize("kw", [
    dict(model="mlp"), dict(optimizer="adam"), dict(softmax="naive"),
], ids=["mlp", "adam", "naive softmax"])
def test_other_models_and_updaters_take_the_books_path(small_data_dir, tmp_path, kw):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                                  **kw),
                      create_run=False)
    assert linear_step(session.model, session.updater) is None


def test_the_analytic_step_repeats_to_the_bit(small_data_dir, tmp_path):
    first = trained(small_data_dir, tmp_path)
    second = trained(small_data_dir, tmp_path)
    assert deterministic(first[0]) == deterministic(second[0])
    assert all(torch.equal(a, b) for a, b in zip(first[1], second[1]))
