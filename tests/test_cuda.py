"""The GPU path. Tests marked `cuda` run only where CUDA is present and skip cleanly elsewhere
(CI has no GPU); the rest check on the CPU what can be checked there: the device choice, pinned
memory for the book's loader, and how rarely the loop reads back from the device."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import pytest
import torch

from tests.support.idx import write_small_idx
from tests.support.waits import wait_for
from tui_trainer.core import data as data_mod
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.loop import run_loop as skeleton
from tui_trainer.loop.device import reporting_intervals, resolve_device
from tui_trainer.loop.train import fit, prepare

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@pytest.fixture
def gpu_data_dir(tmp_path):
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=512, n_test=64)
    return folder


def config(gpu_data_dir, out, **kw) -> TrainConfig:
    return TrainConfig(**{"data_dir": str(gpu_data_dir), "out": str(out), "batch_size": 64,
                          "epochs": 1, **kw})


# ---------------------------------------------------------------- on the CPU: the choices

def test_device_choice_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0", "cuda:1"):
        with pytest.raises(SmtuiError, match=f"--device {name}: CUDA is not available here"):
            resolve_device(name)


def test_device_choice_with_one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(SmtuiError, match=r"--device cuda:1: this machine has 1 CUDA device "
                                         r"\(cuda:0\)"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    with pytest.raises(SmtuiError, match=r"has 4 CUDA devices \(cuda:0 to cuda:3\)"):
        resolve_device("cuda:7")


def test_device_option_accepts_a_gpu_index_and_nothing_else():
    assert TrainConfig(device="cuda:1").validate() == {}
    for bad in ("gpu", "cuda:", "cuda:x", "cuda:1:2"):
        assert "device" in TrainConfig(device=bad).validate()


def test_the_book_loader_pins_memory_only_for_a_gpu(gpu_data_dir):
    data = data_mod.load_fashion_mnist(str(gpu_data_dir))
    for device, pinned in (("cpu", False), ("cuda", True)):
        train_iter, test_iter = data_mod.make_loaders(data, 64, loader="book",
                                                      device=torch.device(device), num_workers=0)
        assert train_iter.pin_memory is pinned and test_iter.pin_memory is pinned


@pytest.mark.parametrize("num_batches", [1, 7, 20, 235, 1000, 7500])
def test_a_gpu_epoch_reads_back_about_twenty_times(num_batches):
    """Each check of the loss is one synchronisation on a GPU; reports fall on checks."""
    for kind, most in (("cuda", 20), ("cpu", 50)):
        check, report = reporting_intervals(num_batches, kind)
        assert math.ceil(num_batches / check) <= most       # checks in an epoch, the last too
        assert report == check and (num_batches <= most or check > 1)


@pytest.mark.parametrize("gradient", ["analytic", "autograd"])
def test_reads_from_the_device_are_counted_per_epoch(gpu_data_dir, tmp_path, monkeypatch,
                                                     gradient):
    """On the CPU, count every read of a tensor's values (`tolist`, `item`, `float`, `int`,
    `bool`, `numpy`: each a synchronisation on a GPU) while a GPU's epochs train, in both steps:
    one a report for the written-out step, two for the book's (its check, then its running
    figures). The test set's evaluation and the epoch's record (on the host) are not counted."""
    import sys

    reads = []
    for name in ("tolist", "item", "__float__", "__int__", "__bool__", "numpy"):
        real = getattr(torch.Tensor, name)

        def counting(self, *args, _real=real, **kw):
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_name not in ("end_epoch",
                                                                     "predict_probs"):
                frame = frame.f_back
            if frame is None:
                reads.append(frame)
            return _real(self, *args, **kw)
        monkeypatch.setattr(torch.Tensor, name, counting)
    monkeypatch.setattr(skeleton, "reporting_intervals",
                        lambda n, kind: reporting_intervals(n, "cuda"))
    write_small_idx(tmp_path / "big", n_train=4000, n_test=64)
    session = prepare(config(tmp_path / "big", tmp_path / "runs", batch_size=16, device="cpu",
                             gradient=gradient, epochs=2))
    reads.clear()                  # what preparing the run read is not the epochs'
    fit(session, lambda e: None)
    assert len(session.train_iter) == 250
    reports = math.ceil(250 / reporting_intervals(250, "cuda")[1])
    per_report = 1 if gradient == "analytic" else 2
    assert 0 < len(reads) <= 2 * per_report * reports, len(reads)


# ---------------------------------------------------------------- on a GPU

@cuda
@needs_cuda
def test_fast_loader_keeps_its_splits_on_the_gpu(gpu_data_dir):
    """The shuffled split converted once to float32, the test split as uint8."""
    data = data_mod.load_fashion_mnist(str(gpu_data_dir))
    train_iter, test_iter = data_mod.make_loaders(data, 64, device=torch.device("cuda"),
                                                  generator=torch.Generator().manual_seed(1))
    for loader, dtype in ((train_iter, torch.float32), (test_iter, torch.uint8)):
        assert loader.images.is_cuda and loader.images.dtype == dtype
        assert loader.labels.is_cuda
        X, y = next(iter(loader))
        assert X.is_cuda and X.dtype == torch.float32 and y.is_cuda


def test_a_loader_on_its_own_device_is_itself(gpu_data_dir):
    data = data_mod.load_fashion_mnist(str(gpu_data_dir))
    train_iter, _ = data_mod.make_loaders(data, 64)
    assert train_iter.on(torch.device("cpu")) is train_iter


@cuda
@needs_cuda
def test_train_ch6_keeps_the_drop_ins_data_on_the_gpu_and_the_learners_loader_as_it_was(
        gpu_data_dir):
    """The split is copied to the GPU once: its batches, in the same shuffled order, come from
    there; the learner's loader still yields CPU batches."""
    data = data_mod.load_fashion_mnist(str(gpu_data_dir))
    train_iter, _ = data_mod.make_loaders(data, 64, generator=torch.Generator().manual_seed(1))
    moved = train_iter.on(torch.device("cuda"))
    assert moved.images.is_cuda and not train_iter.images.is_cuda
    state = train_iter.generator.get_state()
    X_gpu, y_gpu = next(iter(moved))
    train_iter.generator.set_state(state)
    X_cpu, y_cpu = next(iter(train_iter))
    assert X_gpu.is_cuda and torch.equal(X_gpu.cpu(), X_cpu) and torch.equal(y_gpu.cpu(), y_cpu)


@cuda
@needs_cuda
@pytest.mark.parametrize("model, softmax", [("scratch", "stable"), ("scratch", "naive"),
                                            ("concise", "stable"), ("mlp", "stable")])
def test_one_epoch_trains_and_evaluates_on_the_gpu(gpu_data_dir, tmp_path, model, softmax):
    session = prepare(config(gpu_data_dir, tmp_path, model=model, softmax=softmax, device="cuda",
                             lr=0.1 if model != "mlp" else 0.01))
    ended = fit(session, lambda e: None)
    assert ended.status == "finished"
    assert next(session.model.net.parameters()).is_cuda
    assert 0.0 <= session.history[-1]["test_acc"] <= 1.0


@cuda
@needs_cuda
@pytest.mark.parametrize("first, then", [("cuda", "cpu"), ("cpu", "cuda")])
def test_a_run_resumes_on_the_other_device(gpu_data_dir, tmp_path, first, then):
    session = prepare(config(gpu_data_dir, tmp_path, device=first, optimizer="adam", lr=0.01))
    fit(session, lambda e: None)
    state = load_checkpoint(session.run.path)     # saved device-independent: loads on the CPU
    assert all(not t.is_cuda for t in state["model"].values())
    again = prepare(config(gpu_data_dir, tmp_path, device=then, optimizer="adam", lr=0.01,
                           epochs=2), resume=str(session.run.path))
    assert fit(again, lambda e: None).status == "finished"
    assert next(again.model.net.parameters()).device.type == then


@pytest.mark.process
@cuda
@needs_cuda
def test_a_gpu_index_beyond_the_machine_is_one_line(gpu_data_dir, tmp_path):
    index = torch.cuda.device_count()
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--device",
                        f"cuda:{index}", "--data-dir", str(gpu_data_dir), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"smtui: error: --device cuda:{index}: this machine has")


@cuda
@needs_cuda
def test_the_book_loader_with_pinned_memory_trains_on_the_gpu(gpu_data_dir, tmp_path):
    session = prepare(config(gpu_data_dir, tmp_path, device="cuda", loader="book", num_workers=2))
    assert session.train_iter.pin_memory
    assert fit(session, lambda e: None).status == "finished"


@cuda
@needs_cuda
def test_a_gpu_epoch_synchronises_only_to_report(gpu_data_dir, tmp_path):
    """torch counts the synchronisations it sees; an epoch's must stay at the checks."""
    write_small_idx(tmp_path / "big", n_train=4000, n_test=64)
    session = prepare(config(tmp_path / "big", tmp_path / "runs", batch_size=16,
                             device="cuda"))
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(session, lambda e: None)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    check, _ = reporting_intervals(len(session.train_iter), "cuda")
    # one a report (its check reads the chunk's losses), two more an epoch (its evaluation)
    assert len(syncs) <= math.ceil(len(session.train_iter) / check) + 2, len(syncs)


@pytest.mark.app
@cuda
@needs_cuda
async def test_the_tui_trains_on_the_gpu(gpu_data_dir, tmp_path):

    from tui_trainer.ui.app import SmtuiApp

    app = SmtuiApp(config(gpu_data_dir, tmp_path / "runs", device="cuda", epochs=2))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: app.controller.state.last_status == "finished", 120,
                       "the run's end")
    run_dir = next((tmp_path / "runs").iterdir())
    rows = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2 and json.loads(rows[-1])["test_acc"] > 0.5   # the bands are learnable
