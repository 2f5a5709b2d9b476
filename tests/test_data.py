"""The real loading code on small IDX files the tests write, and both loaders' semantics."""

import gzip
import struct

import pytest
import torch

from tui_trainer.core import data as data_mod
from tui_trainer.core.data import (TensorLoader, get_fashion_mnist_labels, load_fashion_mnist,
                                   locate, make_loaders, read_folder, read_idx, write_idx)
from tui_trainer.core.errors import DataError

from tests.support.idx import write_small_idx


def test_labels():
    assert get_fashion_mnist_labels([0, 9, 6]) == ["t-shirt", "ankle boot", "shirt"]
    assert get_fashion_mnist_labels(torch.tensor([1])) == ["trouser"]


def test_idx_round_trip_and_header(tmp_path):
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    write_idx(tmp_path / "x.gz", images)
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (2051, 3, 28, 28)
    assert torch.equal(read_idx(tmp_path / "x.gz"), images)
    (tmp_path / "plain").write_bytes(raw)  # uncompressed files work too
    assert torch.equal(read_idx(tmp_path / "plain"), images)


def test_read_folder(small_data_dir):
    d = read_folder(small_data_dir)
    assert d.train_images.shape == (60, 28, 28) and d.train_images.dtype == torch.uint8
    assert d.test_labels.tolist() == [i % 10 for i in range(20)]
    assert d.train_labels.dtype == torch.int64 and d.name == "full"


def test_bad_magic(small_data_dir):
    path = small_data_dir / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[:4] = struct.pack(">I", 1234)
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="magic number 1234"):
        read_folder(small_data_dir)


def test_truncated_gz(small_data_dir):
    path = small_data_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="corrupt data file .*train-images"):
        read_folder(small_data_dir)


def test_mismatched_counts(small_data_dir):
    write_idx(small_data_dir / "t10k-labels-idx1-ubyte.gz", torch.zeros(19, dtype=torch.uint8))
    with pytest.raises(DataError, match="20 test images but 19 labels"):
        read_folder(small_data_dir)


def test_missing_file_in_data_dir(small_data_dir):
    (small_data_dir / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="holds no Fashion-MNIST IDX files"):
        locate(str(small_data_dir))


def test_sources_in_order(tmp_path, small_data_dir, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "nowhere")
    # --data-dir first; a torchvision root layout is accepted.
    tv_root = tmp_path / "tv"
    write_small_idx(tv_root / "FashionMNIST" / "raw", n_train=30)
    assert locate(str(tv_root)) == (tv_root / "FashionMNIST" / "raw", False)
    # With nothing anywhere, auto falls back to the embedded subset, full refuses.
    folder, subset = locate(None, "auto")
    assert subset and folder == data_mod.subset_dir()
    with pytest.raises(DataError, match="full Fashion-MNIST not found"):
        locate(None, "full")
    # The cache comes before Debian's folder.
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", small_data_dir)
    assert locate(None, "full") == (small_data_dir, False)
    write_small_idx(data_mod.cache_dir() / "data", n_train=10)
    assert locate(None, "full") == (data_mod.cache_dir() / "data", False)


def test_embedded_subset_is_stratified():
    d = load_fashion_mnist(dataset="subset")
    assert d.subset and d.name == "subset"
    assert torch.bincount(d.train_labels).tolist() == [500] * 10
    assert torch.bincount(d.test_labels).tolist() == [100] * 10


def test_tensor_loader_book_semantics(small_data_dir):
    d = read_folder(small_data_dir)
    g = torch.Generator().manual_seed(0)
    train = TensorLoader(d.train_images, d.train_labels, 25, shuffle=True, generator=g)
    test = TensorLoader(d.test_images, d.test_labels, 8, shuffle=False)
    sizes = [len(y) for _, y in train]
    assert sizes == [25, 25, 10] and len(train) == 3  # last partial batch kept
    X, y = next(iter(test))
    assert X.shape == (8, 1, 28, 28) and X.dtype == torch.float32
    assert torch.equal(X[:, 0], d.test_images[:8].float() / 255)  # ToTensor's scaling, in order
    assert torch.equal(y, d.test_labels[:8])
    ys = torch.cat([y for _, y in train])
    assert sorted(ys.tolist()) == sorted(d.train_labels.tolist())
    # The shuffled split, held as float32: each image exactly ToTensor's scaling of its own.
    assert train.images.dtype == torch.float32 and test.images.dtype == torch.uint8
    by_bytes = {bytes(img.numpy()): img.float() / 255 for img in d.train_images}
    Xs = torch.cat([X for X, _ in train])[:, 0]
    scaled = {bytes((x * 255).round().to(torch.uint8).numpy()): x for x in Xs}
    assert len(scaled) == len(by_bytes) and all(torch.equal(x, by_bytes[k])
                                                for k, x in scaled.items())
    assert ys.tolist() != torch.cat([y for _, y in train]).tolist()  # a new order each epoch
    resized = TensorLoader(d.test_images, d.test_labels, 4, shuffle=False, resize=14)
    assert next(iter(resized))[0].shape == (4, 1, 14, 14)


def test_book_loader_matches_fast_loader(small_data_dir):
    d = read_folder(small_data_dir)
    _, book_test = make_loaders(d, 8, loader="book", num_workers=0)
    _, fast_test = make_loaders(d, 8, loader="fast")
    for (Xb, yb), (Xf, yf) in zip(book_test, fast_test):
        assert torch.allclose(Xb, Xf) and torch.equal(yb, yf)
    assert len(book_test) == len(fast_test) == 3


def test_decompressed_files_are_cached_by_path_size_and_time(tmp_path, monkeypatch):
    """The second read of a gzipped IDX file skips gzip; a changed file is read afresh."""
    import gzip
    import os

    from tui_trainer.core import data as data_mod
    images, labels, *_ = write_small_idx(tmp_path / "idx")
    path = tmp_path / "idx" / "train-images-idx3-ubyte.gz"
    first = data_mod.read_idx(path)

    def no_gzip(*args, **kw):
        raise AssertionError("gzip was used again")
    real_open = gzip.open
    monkeypatch.setattr(data_mod.gzip, "open", no_gzip)
    assert torch.equal(data_mod.read_idx(path), first) and torch.equal(first, images)
    monkeypatch.setattr(data_mod.gzip, "open", real_open)
    data_mod.write_idx(path, images[:5])
    os.utime(path, ns=(1, 1))   # another file now: its size and time differ
    assert data_mod.read_idx(path).shape == (5, 28, 28)


def test_the_cache_keeps_the_latest_used_within_its_bound(tmp_path, monkeypatch):
    """Data folders read one after another: the cache keeps what fits in its bound, the latest
    used first, and drops the rest (it grew to 229 MB from folders long gone); a temporary
    file a killed writer left a day ago goes too. What was dropped is read again from the
    .gz files."""
    import os
    import time

    from tui_trainer.core import data as data_mod
    monkeypatch.setenv("SMTUI_CACHE_DIR", str(tmp_path / "cache"))
    folders = [tmp_path / f"data{i}" for i in range(3)]
    for i, folder in enumerate(folders):
        write_small_idx(folder, n_train=40, n_test=10, seed=i)
    one_folder = sum(len(data_mod.gzip.open(p).read()) for p in folders[0].glob("*.gz"))
    monkeypatch.setattr(data_mod, "CACHE_KEEP_BYTES", one_folder * 2)   # two folders' worth
    cache = tmp_path / "cache" / "idx"
    stale = cache / ".old-images.tmp123"
    for n, folder in enumerate(folders):
        data_mod.read_folder(folder)
        if n == 0:
            stale.write_bytes(b"x")
            os.utime(stale, (time.time() - 2 * 86400,) * 2)
        time.sleep(0.01)   # distinct modification times
    kept = sorted(p.name for p in cache.iterdir())
    total = sum(p.stat().st_size for p in cache.iterdir())
    assert total <= one_folder * 2 and len(kept) == 8, kept   # the last two folders
    assert not stale.exists()
    again = data_mod.read_folder(folders[0])   # evicted: decompressed again, the same data
    assert len(again.train_labels) == 40
