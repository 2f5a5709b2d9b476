"""Small IDX data sets for the tests, written by the real writer."""

from __future__ import annotations

from pathlib import Path


def write_small_idx(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0,
                    side: int = 28) -> tuple:
    """Write four small IDX .gz files whose classes are learnable; return the tensors."""
    import torch

    from tui_trainer.core.data import SPLIT_FILES, write_idx

    g = torch.Generator().manual_seed(seed)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 60, (n, side, side), generator=g, dtype=torch.uint8)
        # A bright band whose row depends on the class makes the task learnable.
        for i, c in enumerate(labels.tolist()):
            images[i, 2 * c + 2:2 * c + 4, :] = 250
        img_stem, lbl_stem = SPLIT_FILES[split]
        write_idx(folder / f"{img_stem}.gz", images)
        write_idx(folder / f"{lbl_stem}.gz", labels)
        out += [images, labels]
    return tuple(out)
