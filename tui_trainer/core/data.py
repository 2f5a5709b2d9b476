"""Fashion-MNIST: finding the files, reading IDX, and two loaders (the book's and a fast one).

Sources are tried in order: the user's `--data-dir`, the user's cache, Debian's
`dataset-fashion-mnist` package, torchvision's download, and last the embedded subset shipped in
`assets/` (announced, recorded in the run, refused by `--dataset full`).

The fast loader holds each split once as a uint8 tensor on the training device and shuffles by
index each epoch: no per-sample Python work, no worker processes, no host-to-device copy per batch.
The book's loader (`load_data_fashion_mnist`) is kept as written for comparison.
"""

from __future__ import annotations

import copy
import gzip
import math
import os
import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from .errors import DataError
from .labels import TEXT_LABELS

# File stems in the order (train images, train labels, test images, test labels).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_TIMEOUT_S = 5.0


def get_fashion_mnist_labels(labels) -> list[str]:
    """The book's text labels for numeric labels (a tensor or a list of ints)."""
    return [TEXT_LABELS[int(i)] for i in labels]


def cache_dir() -> Path:
    """Where smtui keeps downloaded data: $SMTUI_CACHE_DIR, else the XDG cache folder."""
    if os.environ.get("SMTUI_CACHE_DIR"):
        return Path(os.environ["SMTUI_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "smtui"


def subset_dir() -> Path:
    """The embedded stratified subset: the package's data (`subset_data`, a link to the
    checkout's assets/ folder), found through importlib.resources wherever the package is
    installed; a checkout without links (some Windows clones) reads assets/ itself. The old
    place under sys.prefix/share missed `pip install --user`, pipx and uv tool installs."""
    from importlib import resources

    packaged = resources.files("tui_trainer") / "subset_data"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    here = Path(__file__).resolve().parents[1]   # the package
    return here.parent / "assets" / "fashion-mnist-subset"


# --------------------------------------------------------------------------------------- IDX files

def _decompressed(path: Path) -> bytes:
    """A gzipped file's bytes, from smtui's cache when this very file (its path, size and
    modification time) was decompressed before: gzip takes 0.4-0.5 s of a run's start on the
    full data, reading the cached bytes a few hundredths. A cache that cannot be written only
    costs that time again."""
    import hashlib

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    cached = cache_dir() / "idx" / f"{key.hexdigest()[:16]}-{path.name.removesuffix('.gz')}"
    try:
        raw = cached.read_bytes()
        os.utime(cached)   # recently used: the last to be evicted
        return raw
    except OSError:
        pass
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    tmp = cached.with_name(f".{cached.name}.tmp{os.getpid()}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(raw)
        os.replace(tmp, cached)
        evict(cached.parent, cached)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return raw


CACHE_KEEP_BYTES = 256 << 20   # about four data folders' worth (55 MB each), the latest used


def evict(folder: Path, keep: Path) -> None:
    """Bound the cache: the least recently used files beyond CACHE_KEEP_BYTES are removed
    (`keep`, just written, never), and temporary files a killed writer left a day ago. It grew
    without end, to 229 MB from data folders that no longer existed."""
    import time

    entries = []
    for entry in os.scandir(folder):
        try:
            stat = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.name.startswith("."):   # another writer's temporary file
            if stat.st_mtime < time.time() - 86400:
                Path(entry.path).unlink(missing_ok=True)
            continue
        entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    total = 0
    for _, size, path in sorted(entries, key=lambda e: e[0], reverse=True):
        total += size
        if total > CACHE_KEEP_BYTES and path != keep:
            path.unlink(missing_ok=True)


def read_idx(path: Path) -> torch.Tensor:
    """Read one IDX file (gzipped or not) into a uint8 tensor, checking magic number and length."""
    try:
        if path.suffix == ".gz":
            raw = _decompressed(path)
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"corrupt data file {path}: {exc}") from None
    if len(raw) < 8:
        raise DataError(f"corrupt data file {path}: too short to be an IDX file")
    magic, count = struct.unpack(">II", raw[:8])
    if magic == IMAGES_MAGIC:
        if len(raw) < 16:
            raise DataError(f"corrupt data file {path}: truncated IDX header")
        rows, cols = struct.unpack(">II", raw[8:16])
        shape: tuple[int, ...] = (count, rows, cols)
        offset = 16
    elif magic == LABELS_MAGIC:
        shape, offset = (count,), 8
    else:
        raise DataError(f"corrupt data file {path}: IDX magic number {magic} is neither "
                        f"{IMAGES_MAGIC} (images) nor {LABELS_MAGIC} (labels)")
    expected = math.prod(shape)
    if len(raw) - offset != expected:
        raise DataError(f"corrupt data file {path}: header announces {expected} bytes of data, "
                        f"file holds {len(raw) - offset}")
    if expected == 0:   # a valid but empty file: the caller says what is wrong with it
        return torch.zeros(shape, dtype=torch.uint8)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=offset).reshape(shape)


def write_idx(path: Path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor as a gzipped IDX file (mtime 0, so the bytes are reproducible)."""
    tensor = tensor.to(torch.uint8).contiguous()
    if tensor.dim() == 3:
        header = struct.pack(">IIII", IMAGES_MAGIC, *tensor.shape)
    elif tensor.dim() == 1:
        header = struct.pack(">II", LABELS_MAGIC, tensor.shape[0])
    else:
        raise ValueError("IDX writer takes images (N, H, W) or labels (N,)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(header + tensor.numpy().tobytes())


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def idx_folder(root: Path) -> Path | None:
    """The folder under `root` that holds the four IDX files, or None.

    Accepts a flat folder of the files, a torchvision root (`root/FashionMNIST/raw`), or the raw
    folder's parent.
    """
    for folder in (root, root / "FashionMNIST" / "raw", root / "raw"):
        if all(_find_file(folder, stem) for files in SPLIT_FILES.values() for stem in files):
            return folder
    return None


@dataclass
class FashionMNIST:
    """Both splits as tensors: images uint8 (N, 28, 28), labels int64 (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str          # where the files came from, for the screen and the run record
    subset: bool = False  # True for the embedded stratified subset

    @property
    def name(self) -> str:
        """'full' or 'subset', as shown on screen and saved in the run."""
        return "subset" if self.subset else "full"


def read_folder(folder: Path, *, subset: bool = False) -> FashionMNIST:
    """Read and cross-check the four IDX files of a folder."""
    splits = {}
    for split, (img_stem, lbl_stem) in SPLIT_FILES.items():
        img_path, lbl_path = _find_file(folder, img_stem), _find_file(folder, lbl_stem)
        if img_path is None or lbl_path is None:
            raise DataError(
                f"missing data file in {folder}: {img_stem if img_path is None else lbl_stem}(.gz)"
            )
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.dim() != 3 or labels.dim() != 1:
            raise DataError(f"corrupt data file {img_path if images.dim() != 3 else lbl_path}: "
                            "images and labels files are swapped")
        if images.shape[1:] != (28, 28):
            raise DataError(f"not Fashion-MNIST: {img_path} holds {images.shape[1]}x"
                            f"{images.shape[2]} images; Fashion-MNIST images are 28x28")
        if images.shape[0] == 0:
            raise DataError(f"not Fashion-MNIST: {img_path} holds no images (an empty {split} "
                            "split)")
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"mismatched data in {folder}: {images.shape[0]} {split} images "
                            f"but {labels.shape[0]} labels")
        if int(labels.max()) > 9 if labels.numel() else False:
            raise DataError(
                f"corrupt data file {lbl_path}: label {int(labels.max())} is not a class 0-9"
            )
        splits[split] = (images, labels.long())
    return FashionMNIST(*splits["train"], *splits["test"], source=str(folder), subset=subset)


def _download(root: Path) -> Path | None:
    """Try torchvision's download into `root`; None when offline. Bounded by a socket timeout."""
    if os.environ.get("SMTUI_NO_DOWNLOAD"):
        return None
    import torchvision

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torchvision.datasets.FashionMNIST(str(root), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(root), train=False, download=True)
    except Exception:  # any network or mirror failure means: not available here
        return None
    finally:
        socket.setdefaulttimeout(old)
    return idx_folder(root)


def locate(data_dir: str | None, dataset: str = "auto") -> tuple[Path, bool]:
    """Find the folder to read: returns (folder, is_subset). Raises DataError when none works."""
    if dataset == "subset":
        return subset_dir(), True
    tried: list[str] = []
    if data_dir:
        root = Path(data_dir).expanduser()
        if not root.exists():
            raise DataError(f"--data-dir {root} does not exist")
        folder = idx_folder(root)
        if folder is None:
            raise DataError(f"--data-dir {root} holds no Fashion-MNIST IDX files "
                            "(train-images-idx3-ubyte.gz and the three others)")
        return folder, False
    for root in (cache_dir() / "data", DEBIAN_DIR):
        tried.append(str(root))
        folder = idx_folder(root)
        if folder is not None:
            return folder, False
    folder = _download(cache_dir() / "data")
    if folder is not None:
        return folder, False
    tried.append("torchvision download")
    if dataset == "full":
        raise DataError("full Fashion-MNIST not found (tried " + ", ".join(tried) + "); pass "
                        "--data-dir, install Debian's dataset-fashion-mnist, or go online once")
    return subset_dir(), True


def load_fashion_mnist(data_dir: str | None = None, dataset: str = "auto") -> FashionMNIST:
    """Locate and read Fashion-MNIST as tensors (see `locate` for the order of sources)."""
    folder, subset = locate(data_dir, dataset)
    return read_folder(folder, subset=subset)


# -------------------------------------------------------------------------------------- the loaders

class TensorLoader:
    """Batches from a split held as uint8 tensors on the device, with the book's semantics.

    Train shuffled (a new permutation from `generator` each epoch), test in order, last partial
    batch kept. Images come out as float32 (B, 1, H, W) in [0, 1] like `ToTensor`, resized
    batch-wise when `resize` is set.

    The shuffled split, read every epoch, is held as float32 in [0, 1], converted once (188 MB
    for Fashion-MNIST's 60,000): converting each batch from uint8 cost a third more than the
    batch's whole update on a CPU. The test split, read once an epoch, and a split resized batch
    by batch stay uint8, converted as they are read; the values are the same either way.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *,
                 shuffle: bool, generator: torch.Generator | None = None,
                 resize: int | None = None, device: torch.device | str = "cpu") -> None:
        self.images = images.to(device)
        self.scaled = shuffle and not resize          # held as float32 in [0, 1]
        if self.scaled:
            self.images = self.images.to(torch.float32).div_(255.0)
        self.labels = labels.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.resize = resize

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    @property
    def num_examples(self) -> int:
        """Number of images in the split."""
        return len(self.labels)

    def on(self, device: torch.device) -> TensorLoader:
        """This loader with its split held on `device` when it fits there (a quarter of the
        GPU's free memory at most), else itself: the same batches, the same shuffling generator
        (so the order goes on as it would), no copy from the host per batch. The learner's own
        loader keeps yielding what it yielded."""
        device = torch.device(device)
        if self.images.device == device:
            return self
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if self.images.numel() * self.images.element_size() > free / 4:
                return self
        moved = copy.copy(self)
        moved.images, moved.labels = self.images.to(device), self.labels.to(device)
        return moved

    def order(self) -> torch.Tensor:
        """The next epoch's permutation, on the split's device: what `__iter__` draws (the same
        generator, so an epoch trained from it goes on as the loader's would)."""
        return torch.randperm(len(self.labels), generator=self.generator).to(self.labels.device)

    def batch(self, order: torch.Tensor | None, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch `index` of an epoch drawn in `order` (None: the split's own order)."""
        start = index * self.batch_size
        if order is None:
            images = self.images[start:start + self.batch_size]
            labels = self.labels[start:start + self.batch_size]
        else:
            # Gather one batch at a time: cheaper than permuting the whole split, which
            # allocates (and page-faults) a fresh copy every epoch.
            idx = order[start:start + self.batch_size]
            images, labels = self.images.index_select(0, idx), self.labels.index_select(0, idx)
        X = images.unsqueeze(1) if self.scaled else images.unsqueeze(1).div(255.0)
        if self.resize:
            X = torch.nn.functional.interpolate(X, size=(self.resize, self.resize),
                                                mode="bilinear", antialias=True,
                                                align_corners=False)
        return X, labels

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order() if self.shuffle else None
        for index in range(len(self)):
            yield self.batch(order, index)


def torchvision_root(folder: Path, subset: bool) -> Path:
    """A torchvision root for `folder`'s files (torchvision reads decompressed files in raw/).

    A folder already laid out for torchvision is used as it is. Otherwise the files are
    decompressed into the cache, in a folder named by a hash of their bytes: another `--data-dir`
    with other files gets another folder, never the stale copy of the first.
    """
    import hashlib

    if folder.name == "raw" and folder.parent.name == "FashionMNIST" and all(
            (folder / stem).is_file() for files in SPLIT_FILES.values() for stem in files):
        return folder.parent.parent
    sources = [_find_file(folder, stem) for files in SPLIT_FILES.values() for stem in files]
    found = [source for source in sources if source is not None]
    if len(found) != len(sources):
        raise DataError(f"missing data file in {folder}: the four IDX files are needed")
    digest = hashlib.sha256()
    try:
        for source in found:
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    except OSError as exc:
        raise DataError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
    root = cache_dir() / "torchvision" / digest.hexdigest()[:16]
    raw = root / "FashionMNIST" / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for source in found:
            stem = source.name.removesuffix(".gz")
            if (raw / stem).is_file():
                continue
            if source.suffix == ".gz":
                with gzip.open(source, "rb") as fh:
                    data = fh.read()
            else:
                data = source.read_bytes()
            tmp = raw / f".{stem}.tmp{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, raw / stem)
    except OSError as exc:
        raise DataError(
            f"cannot write the data cache {root} for --loader book: "
            f"{exc.strerror or exc} (set SMTUI_CACHE_DIR to a writable folder)"
        ) from None
    return root


def load_data_fashion_mnist(batch_size: int, resize: int | None = None, *, root: str | Path,
                            num_workers: int = 4, generator: torch.Generator | None = None,
                            pin_memory: bool = False):
    """The book's loader as written: torchvision FashionMNIST, ToTensor, optional Resize.
    `pin_memory` (smtui's addition, for a GPU) lets each batch's copy to the device overlap
    with compute (`non_blocking=True` in the loop)."""
    import torchvision
    from torch.utils import data
    from torchvision import transforms

    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    mnist_train = torchvision.datasets.FashionMNIST(root=str(root), train=True, transform=trans,
                                                    download=False)
    mnist_test = torchvision.datasets.FashionMNIST(root=str(root), train=False, transform=trans,
                                                   download=False)
    return (data.DataLoader(mnist_train, batch_size, shuffle=True, num_workers=num_workers,
                            generator=generator, pin_memory=pin_memory),
            data.DataLoader(mnist_test, batch_size, shuffle=False, num_workers=num_workers,
                            pin_memory=pin_memory))


def make_loaders(data: FashionMNIST, batch_size: int, *, loader: str = "fast",
                 resize: int | None = None, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None, num_workers: int = 4):
    """(train_iter, test_iter) for the chosen loader, over already located data."""
    if loader == "book":
        root = torchvision_root(Path(data.source), data.subset)
        return load_data_fashion_mnist(batch_size, resize, root=root, num_workers=num_workers,
                                       generator=generator,
                                       pin_memory=torch.device(device).type == "cuda")
    return (TensorLoader(data.train_images, data.train_labels, batch_size, shuffle=True,
                         generator=generator, resize=resize, device=device),
            TensorLoader(data.test_images, data.test_labels, batch_size, shuffle=False,
                         resize=resize, device=device))
