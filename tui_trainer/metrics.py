"""The book's `accuracy`, `Accumulator` and `evaluate_accuracy`.

`Accumulator` accepts tensors as well as numbers and keeps them as they come: adding a 0-d tensor
on the GPU stays on the GPU, and the host waits only when a value is read with `[i]`. That is what
lets the training loop avoid one device synchronisation per batch.
"""

from __future__ import annotations

import torch
from torch import nn


def correct_count(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions as a 0-d tensor (no host synchronisation)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    cmp = y_hat.type(y.dtype) == y
    return cmp.type(y.dtype).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The book's accuracy: the *count* of correct predictions, as a float."""
    return float(correct_count(y_hat, y))


class Accumulator:
    """Sums `n` variables element-wise over calls to `add`."""

    def __init__(self, n: int) -> None:
        self.data: list = [0.0] * n

    def add(self, *args) -> None:
        """Add one value to each variable (numbers or 0-d tensors)."""
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator of {len(self.data)} got {len(args)} values")
        self.data = [a + b for a, b in zip(self.data, args)]

    def reset(self) -> None:
        """Set every variable back to zero."""
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return float(self.data[idx])

    def __len__(self) -> int:
        return len(self.data)


@torch.no_grad()
def evaluate_accuracy(net, data_iter, device: torch.device | str | None = None) -> float:
    """Accuracy of `net` over `data_iter` (eval mode for an nn.Module, no gradients)."""
    if isinstance(net, nn.Module):
        net.eval()
    metric = Accumulator(2)  # correct predictions, predictions
    for X, y in data_iter:
        if device is not None:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        metric.add(correct_count(net(X), y), y.numel())
    return metric[0] / metric[1] if metric[1] else 0.0
