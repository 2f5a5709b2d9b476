"""The book's `accuracy`, `Accumulator` and `evaluate_accuracy`; a model's test predictions
(`predict_probs`, `predict_ch3`) and the book's closing checks (`quality_check`).

`Accumulator` accepts tensors as well as numbers and keeps them as they come: adding a 0-d tensor
on the GPU stays on the GPU, and the host waits only when a value is read with `[i]`. That is what
lets the training loop avoid one device synchronisation per batch.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import get_fashion_mnist_labels
from .events import Stopped


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


@torch.no_grad()
def predict_probs(model, data_iter, device: torch.device | None = None,
                  control=None) -> torch.Tensor:
    """Class probabilities for every example of `data_iter`, as one CPU tensor: (N, 10), or
    (N, K, 10) for a sweep's stacked models. `model` is anything with `net` and `probs`
    (`models.Model`); `control` (`events.Control`) stops it between batches."""
    if isinstance(model.net, nn.Module):
        model.net.eval()
    chunks = []
    for X, _ in data_iter:
        if control is not None and control.should_stop():
            raise Stopped
        if device is not None:
            X = X.to(device, non_blocking=True)
        chunks.append(model.probs(model.net(X)).float())
    return torch.cat(chunks).cpu()


def predict_ch3(probs: torch.Tensor, labels: torch.Tensor, n: int = 6) -> list[tuple[str, str]]:
    """The book's `predict_ch3` as data: (true, predicted) text labels of the first n test
    images."""
    trues = get_fashion_mnist_labels(labels[:n])
    preds = get_fashion_mnist_labels(probs[:n].argmax(dim=1))
    return list(zip(trues, preds))


def quality_check(train_loss: float, train_acc: float, test_acc: float) -> list[str]:
    """The book's assertions at the end of `train_ch3`, as a list of failures (empty = passed)."""
    failures = []
    if not train_loss < 0.5:
        failures.append(f"train loss {train_loss:.4f} is not below 0.5")
    if not 0.7 < train_acc <= 1:
        failures.append(f"train accuracy {train_acc:.4f} is not in (0.7, 1]")
    if not 0.7 < test_acc <= 1:
        failures.append(f"test accuracy {test_acc:.4f} is not in (0.7, 1]")
    return failures
