"""A run's CPU threads: the plan, and the probe its governor times.

`cpu_threads.py` decides the thread budget before torch loads and provides the governor; this module
is the part that needs torch and a model: `thread_plan` for a run about to train, and the
probes, one training step's work on a made-up batch, which the governor times with each
candidate thread count. A probe never touches a run's weights, its next update or torch's
random streams.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch

from . import cpu_threads as cpu
from ..core.config import TrainConfig
from ..core.models import Model
from .device import random_untouched


def probe_batch(cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A made-up batch of the run's shape, the same every time."""
    side = cfg.resize or 28
    g = torch.Generator().manual_seed(0)
    X = torch.rand(cfg.batch_size, 1, side, side, generator=g).to(device)
    return X, torch.randint(0, 10, (cfg.batch_size,), generator=g).to(device)


def training_probe(model: Model, cfg: TrainConfig, device: torch.device) -> Callable[[], None]:
    """One training step's work (forward, loss, backward) on a copy of `model`.

    A learner's own net may read its weights as globals, which no copy can redirect: its probe
    runs on the net itself and puts back the gradients it found, so the weights and the next
    update are untouched."""
    X, y = probe_batch(cfg, device)
    if model.kind == "own":
        params = list(model.net.parameters())

        def probe_in_place() -> None:
            saved = [p.grad for p in params]
            for p in params:
                p.grad = None
            try:
                with random_untouched(device):   # a dropout layer draws: not from the run's
                    model.loss(model.net(X), y).sum().backward()
            finally:
                for p, grad in zip(params, saved):
                    p.grad = grad
        return probe_in_place
    net = copy.deepcopy(model.net)

    def probe() -> None:
        for p in net.parameters():
            p.grad = None
        with random_untouched(device):
            model.loss(net(X), y).sum().backward()
    return probe


def stacked_probe(net, mean_loss: bool, cfg: TrainConfig,
                  device: torch.device) -> Callable[[], None]:
    """One sweep step's work on a copy of the stacked models (`models.StackedNet`)."""
    net = copy.deepcopy(net)
    X, y = probe_batch(cfg, device)

    def probe() -> None:
        for p in net.parameters():
            p.grad = None
        with random_untouched(device):
            if net.step_grads(X, y, mean_loss) is None:
                net.loss(net(X), y).sum().backward()
    return probe


def thread_plan(cfg: TrainConfig, device: torch.device, make_probe: Callable[[], Callable],
                prefer_fewer: bool = False):
    """(plan, governor) of a run's CPU threads: None, None on a GPU.

    A GPU run computes nothing on the CPU that a second thread would speed up (a shuffle, the
    epoch's record), while torch's idle threads spin after each small CPU op: four busy cores
    were seen for one GPU run. It gets one thread, unless --threads names a number.

    See cpu_threads.py: the budget of threads, and with --threads auto a governor that uses
    fewer while other processes share the CPU, timing `make_probe()`. A thread count the caller
    set (a library user's torch.set_num_threads) is kept; one thread is taken as the governor's
    own choice left from an earlier run in this thread (the app's worker), not as a caller's.
    `prefer_fewer`: one thread is kept unless more train faster (a learner's net in the app).
    """
    if device.type != "cpu":
        torch.set_num_threads(cpu.plan_for(cfg.threads).threads if cfg.threads != "auto" else 1)
        return None, None
    plan = cpu.plan_for(cfg.threads)
    if plan.adaptive and torch.get_num_threads() not in (plan.threads, 1):
        plan = cpu.ThreadPlan(torch.get_num_threads(), False, "torch.set_num_threads")
    if plan.adaptive:
        return plan, cpu.ThreadGovernor(plan.threads, torch.set_num_threads, make_probe(),
                                        prefer=1 if prefer_fewer else None)
    torch.set_num_threads(plan.threads)
    return plan, None
