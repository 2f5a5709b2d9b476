"""Shared fixtures: small IDX data sets written by the tests, and the full-data switch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from idxdata import write_small_idx

FULL_DATA = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """No network and a private cache for every test."""
    monkeypatch.setenv("SMTUI_NO_DOWNLOAD", "1")
    monkeypatch.setenv("SMTUI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    if "tui_trainer.ui.threads" in sys.modules:   # an app test made this thread's torch serial
        import torch
        from tui_trainer.ui.threads import default_threads
        torch.set_num_threads(default_threads())


@pytest.fixture
def small_data_dir(tmp_path) -> Path:
    """A folder holding four small, valid IDX .gz files."""
    folder = tmp_path / "idx"
    write_small_idx(folder)
    return folder


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A folder of small IDX files big enough for a run in the app (2,000 train, 50 test)."""
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=2000, n_test=50)
    return folder


@pytest.fixture
def slow_data(tmp_path) -> Path:
    """Enough images that an epoch at batch size 2 takes a noticeable time."""
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=3000, n_test=100)
    return folder


@pytest.fixture
def full_data_dir() -> Path:
    """The full Fashion-MNIST: skipped when absent, except in CI where it must be present."""
    if not (FULL_DATA / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's dataset-fashion-mnist for the full-data tests")
        pytest.skip("full Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return FULL_DATA
