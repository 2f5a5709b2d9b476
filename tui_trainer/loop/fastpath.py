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

The step launches as few kernels as it can (each costs a few microseconds on a CPU and a launch
on a GPU, and a batch's arithmetic is smaller than that): the forward writes its logits straight
into the epoch's buffer, the softmax becomes the gradient in place, and the bias's gradient is
one `addmv`. The book's train loss and accuracy are computed from that buffer in bulk when the
loop settles its pending batches (`settle`), a few kernels for many batches, with the same
per-batch sums as a step that computed them itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.models import Model, SoftmaxScratch
from ..core.updaters import BookSGD, current_lr


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


class LinearStep:
    """The book's step for a linear model with cross-entropy, written out (see the module's
    docstring); `settle` gives the batches' losses and accuracy since the last settle."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, updater, decay: float,
                 num_examples: int, batch_size: int) -> None:
        self.W, self.b, self.updater, self.decay = W, b, updater, decay
        options: dict[str, Any] = dict(dtype=W.dtype, device=W.device)
        # The epoch's logits and labels, row by row as the batches come (from the resume point
        # of an interrupted epoch): the metrics' only input.
        self.logits = torch.empty(num_examples, W.shape[0], **options)
        self.labels = torch.empty(num_examples, dtype=torch.long, device=W.device)
        self.minus_one = torch.full((batch_size, 1), -1.0, **options)
        self.ones = torch.ones(batch_size, **options)
        self.filled = self.settled = 0      # rows written this epoch, rows already counted
        self.sizes: list[int] = []          # the unsettled batches' sizes

    def begin_epoch(self, first_row: int = 0) -> None:
        """An epoch from row `first_row` of the buffers (a chunked epoch keeps each batch's rows
        where its captured graph writes them: batch i at i * batch size)."""
        self.filled = self.settled = first_row
        self.sizes = []

    def advance(self, batches: int, batch_size: int) -> None:
        """`batches` of `batch_size` were trained outside `__call__` (a replayed graph)."""
        self.filled += batches * batch_size
        self.sizes += [batch_size] * batches

    def snapshot(self) -> tuple:
        """The weights and the bookkeeping as they are, for `restore`."""
        return self.W.clone(), self.b.clone(), self.filled, list(self.sizes)

    @torch.no_grad()
    def restore(self, state: tuple) -> None:
        """Back to a `snapshot` (a capture, or a check of one, ran steps that must not count)."""
        W, b, self.filled, sizes = state
        self.W.copy_(W)
        self.b.copy_(b)
        self.sizes = list(sizes)

    @torch.no_grad()
    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """Train by one batch: forward into the buffer, then the update."""
        W, b = self.W, self.b
        B = X.shape[0]
        X = X.reshape(B, -1)
        if self.filled + B > len(self.labels) or B > len(self.ones):
            self._grow(self.filled + B, B)
        rows = slice(self.filled, self.filled + B)
        O = torch.addmm(b, X, W.t(), out=self.logits[rows])
        self.labels[rows] = y
        G = torch.softmax(O, dim=1)                            # softmax(o) ...
        G.scatter_add_(1, y.view(-1, 1), self.minus_one[:B])   # ... minus one-hot: d(sum)/d(o)
        lr = current_lr(self.updater)
        if lr is None:   # `linear_step` takes only the book's sgd and torch's SGD: never here
            raise TypeError("the written-out step needs an updater whose rate it can read")
        if self.decay:   # torch's SGD: p -= lr * (grad of the mean + decay * p)
            W.mul_(1 - lr * self.decay)
            b.mul_(1 - lr * self.decay)
        # The book's sgd steps lr / B times the gradient of the sum; torch's SGD lr times the
        # gradient of the mean: the same step.
        W.addmm_(G.t(), X, alpha=-lr / B)
        b.addmv_(G.t(), self.ones[:B], alpha=-lr / B)
        self.filled += B
        self.sizes.append(B)

    def _grow(self, rows: int, batch: int) -> None:
        """Room for a loader larger than announced (a learner's own iterator), kept."""
        more = max(rows, 2 * len(self.labels))
        logits, labels = self.logits, self.labels
        self.logits = logits.new_empty(more, logits.shape[1])
        self.labels = labels.new_empty(more)
        self.logits[:self.filled], self.labels[:self.filled] = logits[:self.filled], \
            labels[:self.filled]
        batch = max(batch, len(self.ones))
        self.minus_one = self.minus_one.new_full((batch, 1), -1.0)
        self.ones = self.ones.new_ones(batch)

    @torch.no_grad()
    def settle(self) -> tuple[list[float], int, int]:
        """(each unsettled batch's loss sum, correct predictions, examples) in one read-back."""
        rows = slice(self.settled, self.filled)
        O, y = self.logits[rows], self.labels[rows]
        losses = -torch.log_softmax(O, dim=1).gather(1, y.view(-1, 1)).squeeze(1)
        sums = [part.sum() for part in losses.split(self.sizes)]   # each batch's, as a step's
        correct = (O.argmax(dim=1) == y).sum().to(O.dtype)
        values = torch.stack(sums + [correct]).tolist()
        examples = self.filled - self.settled
        self.settled, self.sizes = self.filled, []
        return values[:-1], int(values[-1]), examples


def linear_step(model: Model, updater, num_examples: int = 0,
                batch_size: int = 0) -> LinearStep | None:
    """The written-out step that trains `model` as the book's loop would with `updater`, for
    epochs of `num_examples` in batches of at most `batch_size`, or None where this path does
    not apply."""
    weights = _linear_weights(model.net)
    decay = _weight_decay(updater)
    if weights is None or decay is None or model.kind not in ("scratch", "concise"):
        return None
    return LinearStep(*weights, updater, decay, num_examples, batch_size)
