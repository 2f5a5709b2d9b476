"""torch's intra-op threads in the app: the training thread gets them all, the UI thread none.

torch's CPU kernels run on OpenMP teams, and libgomp keeps one team per thread that starts
parallel work. Once the process holds more team threads than there are cores, every team stops
spinning between kernels and sleeps on a futex instead, so a loop of small batches pays a wake-up
per kernel. One large tensor operation on the UI thread (pooling the test images for the
predictions panel was one) was enough to halve the training thread's images per second for the
rest of the session. So the UI thread's tensor work (predictions, analysis, numerics) runs
serially, and the training thread asks for torch's default count explicitly.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_default: int | None = None


def default_threads() -> int:
    """torch's intra-op thread count as the process started (read once, before any change)."""
    global _default
    with _lock:
        if _default is None:
            import torch

            _default = torch.get_num_threads()
        return _default


def serial_here() -> None:
    """Make this thread's torch work single-threaded (call on the UI thread before its first
    tensor operation; later calls cost a lookup)."""
    import torch

    if torch.get_num_threads() != 1:
        default_threads()
        torch.set_num_threads(1)


def parallel_here() -> None:
    """Give this thread (the training worker) torch's default intra-op thread count."""
    import torch

    torch.set_num_threads(default_threads())
