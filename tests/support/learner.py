"""A learner's program as the tests write it: chapter 3's linear net, written out by hand, over
the drop-in's data. The rest of each program (its loop, its prints, its mistake) is the test's."""

from __future__ import annotations

from pathlib import Path


def linear_learner(loader: str, data: Path | str | None = None, *, seed: bool = False,
                   imports: bool = True) -> str:
    """The head of the program, unindented: its imports (the data folder named by
    SMTUI_DATA_DIR when `data` is given), `torch.manual_seed(0)` when `seed`, then
    `train_iter, test_iter = <loader>` and the book's W, b, net and loss (on scores)."""
    lines = []
    if imports:
        lines += ["import os, sys, time"]
        if data is not None:
            lines += [f"os.environ['SMTUI_DATA_DIR'] = {str(data)!r}"]
        lines += ["import torch", "from tui_trainer import d2l"]
    if seed:
        lines += ["torch.manual_seed(0)"]
    lines += [f"train_iter, test_iter = {loader}",
              "W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)",
              "b = torch.zeros(10, requires_grad=True)",
              "def net(X):",
              "    return torch.matmul(X.reshape((-1, 784)), W) + b",
              "loss = torch.nn.CrossEntropyLoss(reduction='none')"]
    return "\n".join(lines) + "\n"
