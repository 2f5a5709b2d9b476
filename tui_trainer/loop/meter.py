"""The machine beside the run: the process's CPU use and memory, and the GPU's when it trains on
one, the figures users of shared servers watch in top, nvidia-smi or nvitop.

`ProcessMeter.sample()` reads what the kernel already keeps (the process's CPU time from
`os.times`, its resident memory through psutil, on Linux, macOS and Windows alike) and, on a GPU,
torch's own counters (its utilisation through NVIDIA's NVML: the `gpu` extra installs it): no
thread, no polling, nothing a training step waits for. CPU use is over the time since the last
sample, in percent of one core, as top shows it (two busy threads: 200%).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def cpu_seconds() -> float:
    """CPU time used by this process so far, every thread, user and system."""
    times = os.times()
    return times.user + times.system


def resident_bytes() -> int | None:
    """The process's resident memory now (None where the system does not say)."""
    import psutil
    try:
        return int(psutil.Process().memory_info().rss)
    except psutil.Error:
        return None


def gpu_figures() -> dict[str, Any]:
    """The GPU's utilisation and this process's GPU memory, where torch has started CUDA."""
    torch = sys.modules.get("torch")   # never imported here: the app loads it in the background
    try:
        if torch is None or not torch.cuda.is_initialized():
            return {}
        figures: dict[str, Any] = {"gpu_memory_mb": round(torch.cuda.memory_reserved() / 2**20,
                                                          1)}
    except (AttributeError, RuntimeError):   # torch still being imported by another thread
        return {}
    try:
        figures["gpu_percent"] = float(torch.cuda.utilization())   # needs NVIDIA's NVML
    except Exception:   # no NVML (`pip install 'smtui[gpu]'`), or a driver without it
        pass
    return figures


class ProcessMeter:
    """CPU use since the last sample, and memory now."""

    def __init__(self) -> None:
        self.last = (time.monotonic(), cpu_seconds())

    def sample(self) -> dict[str, Any]:
        now, cpu = time.monotonic(), cpu_seconds()
        wall = now - self.last[0]
        percent = 100.0 * (cpu - self.last[1]) / wall if wall > 0 else 0.0
        self.last = (now, cpu)
        rss = resident_bytes()
        figures: dict[str, Any] = {"cpu_percent": round(percent, 1)}
        if rss is not None:
            figures["memory_mb"] = round(rss / 2**20, 1)
        return {**figures, **gpu_figures()}


def describe(figures: dict[str, Any]) -> str:
    """'cpu 183% · mem 1.2 GB' (and 'gpu 87% · 3.4 GB' on a GPU), for a status line."""
    parts = [f"cpu {figures['cpu_percent']:.0f}%"] if "cpu_percent" in figures else []
    if "memory_mb" in figures:
        parts.append(f"mem {_size(figures['memory_mb'])}")
    if "gpu_memory_mb" in figures:
        use = f"{figures['gpu_percent']:.0f}% " if "gpu_percent" in figures else ""
        parts.append(f"gpu {use}{_size(figures['gpu_memory_mb'])}")
    return " · ".join(parts)


def _size(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"
