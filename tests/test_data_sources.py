"""Where the data comes from and what is refused: the book loader's cache, an unwritable cache,
files that are not Fashion-MNIST, no data offline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.support.runs import smtui
from tests.support.idx import write_small_idx
from tui_trainer.core import data as data_mod
from tui_trainer.core.errors import DataError


def test_the_book_loader_never_reuses_another_folders_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_small_idx(a, n_train=40, n_test=20)
    _, _, images, labels = write_small_idx(b, n_train=40, n_test=20)
    relabelled = (labels + 1) % 10
    data_mod.write_idx(b / "t10k-labels-idx1-ubyte.gz", relabelled)
    for folder, expected in ((a, labels), (b, relabelled)):
        data = data_mod.load_fashion_mnist(str(folder))
        _, test_iter = data_mod.make_loaders(data, 20, loader="book", num_workers=0)
        got = torch.cat([y for _, y in test_iter])
        assert torch.equal(got, expected)


@pytest.mark.process
def test_an_unwritable_cache_is_a_clear_error(small_data_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("SMTUI_CACHE_DIR", str(blocker))
    data = data_mod.load_fashion_mnist(str(small_data_dir))
    with pytest.raises(DataError, match="cannot write the data cache .* for --loader book"):
        data_mod.make_loaders(data, 8, loader="book", num_workers=0)
    r = smtui(
        "--no-ui",
        "--data-dir",
        small_data_dir,
        "--loader",
        "book",
        "--out",
        tmp_path / "runs",
        "--batch-size",
        "8",
        env={**os.environ, "SMTUI_CACHE_DIR": str(blocker)},
    )
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("smtui: error: cannot write the data cache")


@pytest.mark.process
@pytest.mark.parametrize("n_train, side, message", [
    (60, 32, "holds 32x32 images; Fashion-MNIST images are 28x28"),
    (60, 0, "holds 0x0 images"),
    (0, 28, "holds no images (an empty train split)"),
])
def test_data_that_is_not_fashion_mnist_shaped(tmp_path, n_train, side, message):
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=n_train, n_test=20, side=side)
    with pytest.raises(DataError, match="not Fashion-MNIST: .*" + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        data_mod.load_fashion_mnist(str(folder))
    r = smtui("--no-ui", "--data-dir", folder, "--out", tmp_path / "runs")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("smtui: error: not Fashion-MNIST: ")


@pytest.mark.process
def test_offline_without_data_and_full_refused(tmp_path):
    r = subprocess.run([sys.executable, "-c",
                        "import tui_trainer.core.data as d, pathlib, sys; "
                        f"d.DEBIAN_DIR = pathlib.Path({str(tmp_path / 'none')!r}); "
                        "from tui_trainer import cli; "
                        "cli.main(['--no-ui', '--dataset', 'full', '--out', "
                        f"{str(tmp_path / 'runs')!r}])"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "full Fashion-MNIST not found" in r.stderr and "Traceback" not in r.stderr
