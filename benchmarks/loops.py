"""The loops the benchmarks time side by side, each in the process that asks: the book's code as
written, a bare loop (the same math inline), the reference floor loop, smtui's `fit`; and the
machine they ran on. The benchmark table (`python -m benchmarks`) and the fresh-process probes
(benchmarks/probes.py) both use them.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch

from tui_trainer.core import data as data_mod
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import EpochEnd
from tui_trainer.core.metrics import Accumulator, accuracy, evaluate_accuracy
from tui_trainer.core.models import cross_entropy, softmax
from tui_trainer.loop.train import fit, prepare
from tui_trainer.core.updaters import sgd


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "gpu": gpu, "date": time.strftime("%Y-%m-%d")}


# ------------------------------------------------------------------------------ 1. epoch time

def book_epochs(data: data_mod.FashionMNIST, epochs: int, device: torch.device,
                dropin: bool = False) -> list[float]:
    """The book's train_ch3 as written (minus the plot): DataLoader, ToTensor, Accumulator.
    `dropin`: the same loop, a learner's, over the batches of `tui_trainer.d2l`'s loader."""
    from pathlib import Path as _P
    if dropin:
        train_iter, test_iter = data_mod.make_loaders(data, 256)
    else:
        root = data_mod.torchvision_root(_P(data.source), data.subset)
        train_iter, test_iter = data_mod.load_data_fashion_mnist(256, root=root, num_workers=4)
    torch.manual_seed(0)
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True, device=device)
    b = torch.zeros(10, requires_grad=True, device=device)

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        metric = Accumulator(3)
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = cross_entropy(y_hat, y)
            l.sum().backward()
            sgd([W, b], 0.1, X.shape[0])
            metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
        evaluate_accuracy(net, ((X.to(device), y.to(device)) for X, y in test_iter))
        times.append(time.perf_counter() - start)
    return times


def bare_epochs(data: data_mod.FashionMNIST, epochs: int, device: torch.device) -> list[float]:
    """The same math inline on in-memory float tensors: no loader, no events, no files."""
    X_all = (data.train_images.reshape(-1, 784).float() / 255).to(device)
    y_all = data.train_labels.to(device)
    X_test = (data.test_images.reshape(-1, 784).float() / 255).to(device)
    y_test = data.test_labels.to(device)
    torch.manual_seed(0)
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True, device=device)
    b = torch.zeros(10, requires_grad=True, device=device)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(y_all), device=device)
        loss_sum, correct = 0.0, 0.0
        for i in range(0, len(order), 256):
            idx = order[i:i + 256]
            X, y = X_all[idx], y_all[idx]
            y_hat = softmax(X @ W + b)
            l = -torch.log(y_hat[range(len(y)), y])
            l.sum().backward()
            sgd([W, b], 0.1, len(y))
            loss_sum += float(l.detach().sum())
            correct += accuracy(y_hat, y)
        with torch.no_grad():
            float((softmax(X_test @ W + b).argmax(1) == y_test).float().mean())
        times.append(time.perf_counter() - start)
    return times


def floor_epochs(data: data_mod.FashionMNIST, epochs: int, device: torch.device) -> list[float]:
    """The reference floor loop: the book's model and semantics (a new shuffle each epoch, the
    test set evaluated), float32 images prepared once, W as (10, 784), the gradient written out
    as softmax minus one-hot, nothing read back inside the epoch: what this machine can do."""
    X = (data.train_images.reshape(-1, 784).float() / 255).to(device)
    y = data.train_labels.to(device)
    Xt = (data.test_images.reshape(-1, 784).float() / 255).to(device)
    yt = data.test_labels.to(device)
    torch.manual_seed(1)
    W = torch.normal(0, 0.01, (784, 10)).t().contiguous().to(device)
    b = torch.zeros(10, device=device)
    onehot = torch.eye(10, device=device)
    lr, B, n = 0.1, 256, X.shape[0]
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, B):
            j = perm[i:i + B]
            xb, yb = X[j], y[j]
            p = torch.softmax(torch.addmm(b, xb, W.t()), 1)
            p -= onehot[yb]
            W.sub_(p.t() @ xb, alpha=lr / len(yb))
            b.sub_(p.sum(0), alpha=lr / len(yb))
        (torch.addmm(b, Xt, W.t()).argmax(1) == yt).float().mean().item()
        times.append(time.perf_counter() - start)
    return times


def smtui_epochs(data, config: TrainConfig) -> list[float]:
    """Epoch times (train + test evaluation) of `fit` as both drivers use it."""
    times: list[float] = []
    session = prepare(config, data=data, create_run=False)
    fit(session, lambda e: times.append(e.seconds) if isinstance(e, EpochEnd) else None)
    return times


def steady(times: list[float]) -> float:
    """Median epoch time without the first (warm-up) epoch when there are several."""
    return statistics.median(times[1:] if len(times) > 2 else times)
