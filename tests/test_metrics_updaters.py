"""accuracy, Accumulator, evaluate_accuracy, the book's sgd and the schedules, by hand."""

import math

import pytest
import torch

from tui_trainer.core.metrics import Accumulator, accuracy, evaluate_accuracy
from tui_trainer.core.updaters import BookSGD, build_updater, scheduled_lr, set_lr, sgd


def test_accuracy_is_a_count():
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = torch.tensor([0, 2])
    assert accuracy(y_hat, y) == 1.0
    assert accuracy(torch.tensor([1, 2, 2]), torch.tensor([1, 2, 0])) == 2.0


def test_accumulator_add_reset_index():
    acc = Accumulator(2)
    acc.add(2, 10)
    acc.add(3, 6)
    assert (acc[0], acc[1]) == (5.0, 16.0)
    acc.add(torch.tensor(1.5), 0)
    assert acc[0] == 6.5
    acc.reset()
    assert (acc[0], acc[1]) == (0.0, 0.0)
    with pytest.raises(ValueError):
        acc.add(1)


def test_evaluate_accuracy_over_batches():
    net = torch.nn.Identity()  # logits are the inputs themselves
    batches = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])),
               (torch.tensor([[0.0, 1.0]]), torch.tensor([1]))]
    assert evaluate_accuracy(net, batches) == pytest.approx(2 / 3)


def test_book_sgd_hand_computed():
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    p.grad = torch.tensor([0.5, 1.0])
    sgd([p], lr=0.1, batch_size=2)
    assert torch.allclose(p.detach(), torch.tensor([0.975, 1.95]))
    assert torch.count_nonzero(p.grad) == 0


def test_book_sgd_on_sum_equals_torch_sgd_on_mean():
    X, y = torch.randn(8, 3), torch.randn(8)
    w1 = torch.zeros(3, requires_grad=True)
    w2 = torch.zeros(3, requires_grad=True)
    ((X @ w1 - y) ** 2).sum().backward()
    BookSGD([w1], lr=0.1)(8)
    opt = build_updater("torch-sgd", [w2], lr=0.1)
    ((X @ w2 - y) ** 2).mean().backward()
    opt.step()
    assert torch.allclose(w1, w2)


def test_schedules_and_set_lr():
    assert scheduled_lr(0.1, "constant", 0.7) == 0.1
    assert scheduled_lr(0.1, "cosine", 0.0) == pytest.approx(0.1)
    assert scheduled_lr(0.1, "cosine", 0.5) == pytest.approx(0.05)
    assert scheduled_lr(0.1, "cosine", 1.0) == pytest.approx(0.0)
    book = BookSGD([], 0.1)
    set_lr(book, 0.02)
    assert book.lr == 0.02 and book.state_dict() == {"lr": 0.02}
    adam = build_updater("adam", [torch.zeros(1, requires_grad=True)], 0.001)
    set_lr(adam, 0.5)
    assert adam.param_groups[0]["lr"] == 0.5
    assert math.isclose(scheduled_lr(1.0, "cosine", 0.25), 0.5 * (1 + math.cos(math.pi / 4)))
