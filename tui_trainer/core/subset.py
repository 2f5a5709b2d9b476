"""Make the embedded stratified subset shipped in `assets/fashion-mnist-subset/`.

    python -m tui_trainer.core.subset [SOURCE_DIR] [DEST_DIR]

Takes the same number of images of each class (500 train and 100 test per class by default)
with a fixed seed, so the files are the same bytes every time they are made from the same data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from .data import DEBIAN_DIR, SPLIT_FILES, idx_folder, read_folder, write_idx

TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 500, 100, 20200523


def stratified_indices(
    labels: torch.Tensor, per_class: int, generator: torch.Generator
) -> torch.Tensor:
    """`per_class` random indices of each class, returned in ascending order."""
    chosen = []
    for cls in range(10):
        idx = (labels == cls).nonzero().squeeze(1)
        if len(idx) < per_class:
            raise ValueError(f"class {cls} has only {len(idx)} examples")
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def make_subset(source: Path, dest: Path, train_per_class: int = TRAIN_PER_CLASS,
                test_per_class: int = TEST_PER_CLASS) -> None:
    """Write a stratified subset of the IDX files in `source` to `dest`."""
    folder = idx_folder(source)
    if folder is None:
        raise SystemExit(f"no Fashion-MNIST IDX files in {source}")
    data = read_folder(folder)
    g = torch.Generator().manual_seed(SEED)
    train = stratified_indices(data.train_labels, train_per_class, g)
    test = stratified_indices(data.test_labels, test_per_class, g)
    (img, lbl), (timg, tlbl) = SPLIT_FILES["train"], SPLIT_FILES["test"]
    write_idx(dest / f"{img}.gz", data.train_images[train])
    write_idx(dest / f"{lbl}.gz", data.train_labels[train])
    write_idx(dest / f"{timg}.gz", data.test_images[test])
    write_idx(dest / f"{tlbl}.gz", data.test_labels[test])


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEBIAN_DIR
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else \
        Path(__file__).resolve().parents[2] / "assets" / "fashion-mnist-subset"
    make_subset(src, dst)
    print(f"wrote stratified subset of {src} to {dst}")
