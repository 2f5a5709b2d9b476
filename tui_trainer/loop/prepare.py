"""The front of every run smtui prepares: its checks, device, data, seed and loaders.

A single run (`train.prepare`) and a sweep (`sweep.prepare_sweep`) start alike: the config is
validated, the device resolved, the data read and checked against the batch size, torch's RNG
seeded (so every model starts from the seed's weights) and the loaders made with their own
shuffling generator. Nothing here touches a run directory: whatever can refuse a run does so
before one is created or resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..core import data as data_mod
from ..core.config import TrainConfig
from .device import resolve_device
from .cpu_threads import fitting_workers
from ..core.errors import SmtuiError


@dataclass
class Front:
    """What every run is prepared from."""

    device: torch.device
    data: data_mod.FashionMNIST
    generator: torch.Generator    # the training loader's shuffling; a checkpoint saves its state
    train_iter: Any
    test_iter: Any


def refuse_invalid(config: TrainConfig) -> None:
    """The config's first invalid option as a usage error (exit 2)."""
    errors = config.validate()
    if errors:
        name, reason = next(iter(errors.items()))
        raise SmtuiError(f"--{name.replace('_', '-')} {reason}", exit_code=2)


def open_front(config: TrainConfig, data: data_mod.FashionMNIST | None = None) -> Front:
    """Resolve the device, read the data (unless given), check the batch size against it, seed
    torch's RNG and make the loaders."""
    device = resolve_device(config.device)
    if data is None:
        data = data_mod.load_fashion_mnist(config.data_dir, config.dataset)
    if config.batch_size > len(data.train_labels):
        raise SmtuiError(f"--batch-size {config.batch_size} is larger than the "
                         f"{len(data.train_labels)} training images", exit_code=2)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train_iter, test_iter = data_mod.make_loaders(
        data, config.batch_size, loader=config.loader, resize=config.resize, device=device,
        generator=generator, num_workers=fitting_workers(config.num_workers))
    return Front(device, data, generator, train_iter, test_iter)
