"""Updaters: the book's minibatch `sgd` and torch's optimizers, built from a config.

The book's own updater is called as `updater(batch_size)` after `l.sum().backward()`; a torch
optimizer gets `l.mean().backward()` and `step()`. `train_epoch` keeps that distinction, so with
the same learning rate both give the same step.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sgd(params, lr: float, batch_size: int) -> None:
    """The book's minibatch SGD: p -= lr * p.grad / batch_size, then zero the gradient."""
    with torch.no_grad():
        for i, param in enumerate(params):
            if param.grad is None:
                raise no_gradient(i, param)
            param.add_(param.grad, alpha=-lr / batch_size)  # in place, no temporaries
            param.grad.zero_()


def no_gradient(index: int, param: torch.Tensor) -> Exception:
    """Why sgd cannot step a tensor without a gradient, in the learner's words (torch would
    say `add_(): argument 'other' must be Tensor, not NoneType`)."""
    from .errors import SmtuiError
    shape = tuple(param.shape)
    why = ("it was created without requires_grad=True" if not param.requires_grad else
           "the loss does not depend on it (is it used by the net?)")
    return SmtuiError(f"sgd: params[{index}], of shape {shape}, has no gradient: {why}")


class BookSGD:
    """The book's `updater(batch_size)` closure as an object, so its lr can follow a schedule."""

    def __init__(self, params, lr: float) -> None:
        self.params = list(params)
        self.lr = lr

    def __call__(self, batch_size: int) -> None:
        sgd(self.params, self.lr, batch_size)

    def state_dict(self) -> dict:
        """Checkpoint state: only the current learning rate."""
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict()`'s output."""
        self.lr = state["lr"]


def build_updater(name: str, params, lr: float, weight_decay: float = 0.0):
    """`BookSGD` for "sgd", else a torch optimizer ("torch-sgd", "adam")."""
    params = list(params)
    if name == "sgd":
        return BookSGD(params, lr)
    if name == "torch-sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def scheduled_lr(base_lr: float, schedule: str, progress: float) -> float:
    """Learning rate at `progress` in [0, 1] of the run: constant, or cosine down to 0."""
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return base_lr


def current_lr(updater) -> float | None:
    """The learning rate either kind of updater steps with now; None for a learner's own
    updater function, whose rate smtui cannot see."""
    if isinstance(updater, BookSGD):
        return updater.lr
    groups = getattr(updater, "param_groups", None)
    return groups[0]["lr"] if groups else None


def set_lr(updater, lr: float) -> None:
    """Set the learning rate of either kind of updater."""
    if isinstance(updater, BookSGD):
        updater.lr = lr
    else:
        for group in updater.param_groups:
            group["lr"] = lr


class StackedUpdater:
    """The book's sgd, torch's SGD or Adam, applied to K stacked models with K learning rates.

    The same arithmetic as the single-model updaters, with the learning rate a (K,) tensor
    broadcast over each model's block: sgd p -= lr/B * grad (after l.sum().backward()), torch-sgd
    p -= lr * (grad + wd * p) and Adam as torch writes it (after l.mean().backward()).
    """

    def __init__(self, name: str, params: list[nn.Parameter], k: int,
                 weight_decay: float = 0.0) -> None:
        self.name, self.params, self.k, self.weight_decay = name, list(params), k, weight_decay
        self.betas, self.eps = (0.9, 0.999), 1e-8
        self.steps = torch.zeros(k, dtype=torch.float64)   # Adam's steps, per model
        self._key: tuple | None = None   # the (lrs, alive, batch size) of the cached tensors
        if name == "adam":
            self.exp_avg = [torch.zeros_like(p) for p in self.params]
            self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @property
    def mean_loss(self) -> bool:
        """torch's optimizers step on the batch's mean loss; the book's sgd on its sum."""
        return self.name != "sgd"

    @torch.no_grad()
    def step(self, lrs: list[float], batch_size: int, alive: list[bool]) -> None:
        """One update of every live model, then clear the gradients."""
        key = (tuple(lrs), tuple(alive), batch_size)
        if key != self._key:   # the same every batch but the last of an epoch, unless scheduled
            self._key = key
            self._lr64 = torch.tensor([v if a else 0.0 for v, a in zip(lrs, alive)],
                                      dtype=torch.float64)
            device = self.params[0].device
            self._lr = self._lr64.float().to(device)
            self._per_example = (self._lr64 / batch_size).float().to(device)
        device, lr64, lr, per_example = (self.params[0].device, self._lr64, self._lr,
                                         self._per_example)
        for i, p in enumerate(self.params):
            shape = (self.k,) + (1,) * (p.dim() - 1)
            g = p.grad
            if g is None:   # not in this batch's graph: left as it is, as torch's optimizers do
                continue
            if self.name == "sgd":
                p.addcmul_(g, per_example.view(shape), value=-1)
            elif self.name == "torch-sgd":
                d = g.add(p, alpha=self.weight_decay) if self.weight_decay else g
                p.addcmul_(d, lr.view(shape), value=-1)
            else:
                if i == 0:
                    self.steps += torch.tensor(alive, dtype=self.steps.dtype)
                d = g.add(p, alpha=self.weight_decay) if self.weight_decay else g
                b1, b2 = self.betas
                self.exp_avg[i].lerp_(d, 1 - b1)
                self.exp_avg_sq[i].mul_(b2).addcmul_(d, d, value=1 - b2)
                steps = self.steps.clamp(min=1)
                step_size = (lr64 / (1 - b1 ** steps)).float().to(device).view(shape)
                bc2_sqrt = torch.sqrt(1 - b2 ** steps).float().to(device).view(shape)
                denom = (self.exp_avg_sq[i].sqrt() / bc2_sqrt).add_(self.eps)
                p.sub_(step_size * self.exp_avg[i] / denom)
            p.grad = None

    def reset_model(self, k: int) -> None:
        """Forget model k's optimizer state (it diverged)."""
        if self.name == "adam":
            for t in self.exp_avg + self.exp_avg_sq:
                t[k].zero_()

    def single_state(self, k: int, net, params: list[nn.Parameter], lr: float):
        """Model k's optimizer state as its own single run's updater saves it."""
        updater = build_updater(self.name, params, lr, self.weight_decay)
        state = updater.state_dict()
        if self.name == "adam" and self.steps[k] > 0:
            for j, (m, v) in enumerate(zip(net.unstack(k, self.exp_avg),
                                           net.unstack(k, self.exp_avg_sq))):
                state["state"][j] = {"step": torch.tensor(float(self.steps[k])),
                                     "exp_avg": m.cpu(), "exp_avg_sq": v.cpu()}
        return state
