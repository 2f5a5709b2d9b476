"""Opt-in TensorBoard export (`--tensorboard DIR`): scalars and sample images per epoch.

TensorBoard is never a dependency: the writer is imported only when asked for, and a missing
package is a one-line error that says how to install it.
"""

from __future__ import annotations

from .errors import SmtuiError
from .events import EpochEnd, RunEnded, RunStarted


class TensorBoardListener:
    """A listener that mirrors the book's three curves and a grid of test images."""

    def __init__(self, log_dir: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SmtuiError("--tensorboard needs the tensorboard package "
                             "(pip install tensorboard)") from None
        self.writer = SummaryWriter(log_dir)
        self.images = None

    def __call__(self, event) -> None:
        if isinstance(event, RunStarted):
            self.images = event.test_images[:16]
        elif isinstance(event, EpochEnd):
            for name in ("train_loss", "train_acc", "test_acc"):
                self.writer.add_scalar(name, getattr(event, name), event.epoch)
            self.writer.add_scalar("lr", event.lr, event.epoch)
            if self.images is not None:
                self.writer.add_images("test_images", self.images[:, None].float() / 255,
                                       event.epoch)
            self.writer.flush()
        elif isinstance(event, RunEnded):
            self.writer.close()
