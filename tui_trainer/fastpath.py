"""Softmax regression's training step written out: the fast path beside the book's autograd.

For a linear model trained with cross-entropy, the gradient of the summed loss in the logits
is softmax(o) - onehot(y), so a step is one `addmm` forward, a log-softmax for the loss, and
one product for the weight's gradient, applied in place; no graph is built and no `.grad` is
kept. On a CPU, autograd's bookkeeping on a batch's small tensors costs as much as the
arithmetic: this step takes about half the time.

It is one switch from the book's path (`--gradient autograd`), and applies only where it computes
the book's update: smtui's linear models (scratch with the stable loss, concise) stepped by the
book's `sgd` or torch's plain SGD (weight decay allowed; no momentum). Elsewhere `linear_step`
returns None and the loop runs the book's `backward()`. Tests check the two paths against each
other: the same losses, accuracies and weights to float tolerance.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .models import Model, SoftmaxScratch
from .updaters import BookSGD, current_lr


def _linear_weights(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(W as (classes, inputs), b) of smtui's linear models, views of their parameters."""
    if isinstance(net, SoftmaxScratch) and not net.naive:
        return net.W.t(), net.b
    if isinstance(net, nn.Sequential) and len(net) == 2 and isinstance(net[1], nn.Linear):
        return net[1].weight, net[1].bias
    return None


def _weight_decay(updater) -> float | None:
    """The weight decay of an updater whose step this path can write out, else None."""
    if isinstance(updater, BookSGD):
        return 0.0
    if type(updater) is torch.optim.SGD:
        group = updater.param_groups[0]
        if len(updater.param_groups) == 1 and not group["momentum"] and \
                not group["nesterov"] and not group.get("maximize", False):
            return float(group["weight_decay"])
    return None


def linear_step(model: Model, updater) -> Callable | None:
    """`step(X, y) -> (logits, per-example losses)` that trains `model` by one batch as the
    book's loop would with `updater`, or None where this path does not apply."""
    weights = _linear_weights(model.net)
    decay = _weight_decay(updater)
    if weights is None or decay is None or model.kind not in ("scratch", "concise"):
        return None
    W, b = weights

    @torch.no_grad()
    def step(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        X = X.reshape(X.shape[0], -1)
        B = X.shape[0]
        O = torch.addmm(b, X, W.t())
        log_p = torch.log_softmax(O, dim=1)
        index = y.view(-1, 1)
        loss = -log_p.gather(1, index).squeeze(1)
        G = log_p.exp_()                                   # softmax(o) ...
        G.scatter_add_(1, index, torch.full((B, 1), -1.0, dtype=G.dtype, device=G.device))
        lr = current_lr(updater)                           # ... minus one-hot: d(sum)/d(o)
        if decay:   # torch's SGD: p -= lr * (grad of the mean + decay * p)
            W.mul_(1 - lr * decay)
            b.mul_(1 - lr * decay)
        # The book's sgd steps lr / B times the gradient of the sum; torch's SGD lr times the
        # gradient of the mean: the same step.
        W.addmm_(G.t(), X, alpha=-lr / B)
        b.sub_(G.sum(0), alpha=lr / B)
        return O, loss
    return step
