"""The book's models and losses against hand-computed values and torch's own functions."""

import math

import torch
import torch.nn.functional as F

from tui_trainer.core.models import (SoftmaxScratch, build_model, cross_entropy,
                                     cross_entropy_stable, log_softmax_stable, softmax,
                                     softmax_stable)


def test_softmax_hand_computed():
    X = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    expected = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    assert torch.allclose(softmax(X), expected)
    assert torch.allclose(softmax_stable(X), expected)


def test_naive_softmax_overflows_and_stable_does_not():
    X = torch.tensor([[1000.0, 0.0]])
    assert torch.isnan(softmax(X)).any()
    assert torch.allclose(softmax_stable(X), torch.tensor([[1.0, 0.0]]))


def test_cross_entropy_book_example():
    # The book's example: y_hat rows [0.1, 0.3, 0.6] and [0.3, 0.2, 0.5], labels 0 and 2.
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = torch.tensor([0, 2])
    assert torch.allclose(cross_entropy(y_hat, y), torch.tensor([-math.log(0.1), -math.log(0.5)]))


def test_naive_cross_entropy_log_zero_is_inf():
    assert math.isinf(cross_entropy(torch.tensor([[1.0, 0.0]]), torch.tensor([1])).item())


def test_stable_cross_entropy_matches_torch_and_stays_finite():
    O = torch.tensor([[2.0, -1.0, 0.5], [1000.0, -1000.0, 0.0]])
    y = torch.tensor([1, 1])
    ours = cross_entropy_stable(O, y)
    assert torch.isfinite(ours).all()
    assert torch.allclose(ours, F.cross_entropy(O, y, reduction="none"))
    # Hand value for the second row: lse = 1000, loss = 1000 - (-1000) = 2000.
    assert ours[1].item() == 2000.0
    assert torch.allclose(log_softmax_stable(O), F.log_softmax(O, dim=1))


def test_scratch_net_init_and_shapes():
    torch.manual_seed(0)
    net = SoftmaxScratch()
    assert net.W.shape == (784, 10) and net.b.shape == (10,)
    assert torch.count_nonzero(net.b) == 0
    assert abs(net.W.std().item() - 0.01) < 0.001 and abs(net.W.mean().item()) < 0.001
    out = net(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)


def test_scratch_W_is_the_books_draw_stored_column_major():
    """Same values as the book's torch.normal(0, 0.01, (784, 10)); strides (1, 784) for the
    fast product; the gradient and a book-sgd step keep both; the output is X @ W + b."""
    torch.manual_seed(3)
    book_W = torch.normal(0, 0.01, size=(784, 10))
    torch.manual_seed(3)
    net = SoftmaxScratch()
    assert torch.equal(net.W, book_W) and net.W.stride() == (1, 784)
    X = torch.rand(8, 1, 28, 28)
    out = net(X)
    assert torch.allclose(out, X.reshape(8, 784) @ book_W + net.b, atol=1e-6)
    F.cross_entropy(out, torch.arange(8)).backward()
    assert net.W.grad.stride() == (1, 784)
    expected = book_W - 0.1 * net.W.grad
    with torch.no_grad():
        net.W.add_(net.W.grad, alpha=-0.1)
    assert net.W.stride() == (1, 784) and torch.allclose(net.W, expected)
    state = net.state_dict()
    again = SoftmaxScratch()
    again.load_state_dict(state)
    assert torch.equal(again.W, net.W)


def test_naive_net_returns_probabilities():
    model = build_model("scratch", "naive")
    p = model.net(torch.rand(3, 1, 28, 28))
    assert torch.allclose(p.sum(1), torch.ones(3))


def test_stable_and_naive_scratch_agree_on_moderate_inputs():
    torch.manual_seed(1)
    naive = build_model("scratch", "naive")
    torch.manual_seed(1)
    stable = build_model("scratch", "stable")
    X, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 5, 9])
    assert torch.allclose(naive.loss(naive.net(X), y), stable.loss(stable.net(X), y), atol=1e-6)
    assert torch.allclose(naive.probs(naive.net(X)), stable.probs(stable.net(X)), atol=1e-6)
    # The fused loss the stable model trains with is the written-out LogSumExp form.
    O = stable.net(X)
    assert torch.allclose(stable.loss(O, y), cross_entropy_stable(O, y), atol=1e-6)


def test_concise_and_mlp():
    concise = build_model("concise")
    linear = concise.net[1]
    assert linear.weight.shape == (10, 784)
    assert abs(linear.weight.std().item() - 0.01) < 0.002
    mlp = build_model("mlp")
    assert [m.out_features for m in mlp.net if hasattr(m, "out_features")] == [256, 10]
    X, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 2])
    assert concise.loss(concise.net(X), y).shape == (2,)
    assert torch.allclose(mlp.probs(mlp.net(X)).sum(1), torch.ones(2))
