"""Where a run trains, and how often its loop may read the device back.

The device is chosen in one place for every kind of run (`--device`, the form, a sweep); the
reporting intervals follow from it: on a CPU a read of the loss is free, on a GPU each one is a
host-device synchronisation, so the loop reads back a few times an epoch, not every batch.
"""

from __future__ import annotations

import math

import torch

from ..core.errors import SmtuiError


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; cuda without CUDA, or a GPU index the machine
    does not have, is a user error."""
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SmtuiError(f"--device {name}: CUDA is not available here (use --device cpu "
                             "or auto)")
        device = torch.device(name)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise SmtuiError(f"--device {name}: this machine has {count} CUDA device"
                             f"{'s' if count != 1 else ''} (cuda:0"
                             f"{f' to cuda:{count - 1}' if count > 1 else ''})")
        return device
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def reporting_intervals(num_batches: int, device_type: str) -> tuple[int, int]:
    """(check_every, report_every): how many batches pass between reading the loss back to check
    it for inf/nan, and between progress reports. They are the same: a check settles the
    pending batches' losses and accuracy (fastpath.py computes them in bulk then), and a report
    shows checked figures. Progress ~50 times an epoch on the CPU, enough for any progress bar;
    ~20 on a GPU, where each read is a host-device synchronisation: an epoch there synchronises
    once a report, plus for its evaluation. The batch a loss became inf or nan at is still named
    exactly: a check reads each pending batch's loss."""
    parts = 50 if device_type == "cpu" else 20
    every = max(1, math.ceil(num_batches / parts))
    return every, every


def random_untouched(device: torch.device):
    """A context in which torch's global random streams (the CPU's, and `device`'s when it is
    a GPU) are put back as they were on leaving.

    What smtui does beside a learner's training (reading their test loader to describe it,
    checking their net on a batch, timing a probe step) must not draw from the streams their
    seeded program trains with: a DataLoader draws a seed each time it is iterated, a dropout
    layer draws in a forward. With this around it, a seeded script trains as with the book's
    `train_ch3`, shuffles and dropout masks to the bit, and the stream after it is the book's."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.random.fork_rng(devices=[index])
    return torch.random.fork_rng(devices=[])
