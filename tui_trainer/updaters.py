"""Updaters: the book's minibatch `sgd` and torch's optimizers, built from a config.

The book's own updater is called as `updater(batch_size)` after `l.sum().backward()`; a torch
optimizer gets `l.mean().backward()` and `step()`. `train_epoch` keeps that distinction, so with
the same learning rate both give the same step.
"""

from __future__ import annotations

import math

import torch


def sgd(params, lr: float, batch_size: int) -> None:
    """The book's minibatch SGD: p -= lr * p.grad / batch_size, then zero the gradient."""
    with torch.no_grad():
        for param in params:
            param.add_(param.grad, alpha=-lr / batch_size)  # in place, no temporaries
            param.grad.zero_()


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
