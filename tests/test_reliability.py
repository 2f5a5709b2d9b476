"""Every way a run can end, and bad files: signals, kill -9, full disks, broken checkpoints."""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from idxdata import write_small_idx
from procs import child_env, finish
from tui_trainer import runs as runs_mod
from tui_trainer.config import TrainConfig
from tui_trainer.errors import SmtuiError
from tui_trainer.runs import RunDir, load_checkpoint
from tui_trainer.train import fit, prepare


@pytest.fixture
def slow_data(tmp_path):
    """Enough images that an epoch at batch size 2 takes a noticeable time."""
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=3000, n_test=100)
    return folder


def start_headless(data_dir, out, *extra):
    env = child_env()
    return subprocess.Popen([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                             str(data_dir), "--out", str(out), "--batch-size", "2",
                             "--epochs", "1000", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_epoch(proc, n=1, timeout=60):
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("epoch"):
            seen += 1
            if seen >= n:
                return
    raise AssertionError("no epoch line in time")


def assert_run_files_whole(run_dir, killed=False):
    """Every line of both metrics files whole; the CSV holds the same epochs as the JSON lines.
    After a kill -9 between the two appends of an epoch the CSV may lack that last epoch (two
    files cannot be appended at once); a resume rewrites it from metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    with open(run_dir / "metrics.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert [int(r["epoch"]) for r in csv_rows] == list(range(1, len(csv_rows) + 1))
    assert len(csv_rows) in ((len(rows), len(rows) - 1) if killed else (len(rows),))
    return rows


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_with_checkpoint(slow_data, tmp_path, sig, code):
    proc = start_headless(slow_data, tmp_path / "runs")
    wait_for_epoch(proc, 1)
    proc.send_signal(sig)
    out, err = finish(proc)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run_dir = next((tmp_path / "runs").iterdir())
    rows = assert_run_files_whole(run_dir)
    state = load_checkpoint(run_dir)
    assert state["epoch"] == len(rows)          # metrics and checkpoint agree
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"


def test_kill_9_never_leaves_corrupt_files(slow_data, tmp_path):
    """SIGKILL at many moments of training (between and during writes): checkpoint loadable,
    metrics whole, every time."""
    delays = [0.0, 0.02, 0.05, 0.09, 0.14, 0.2, 0.27]
    for i, delay in enumerate(delays):
        out = tmp_path / f"runs{i}"
        proc = start_headless(slow_data, out, "--batch-size", "32")
        wait_for_epoch(proc, 1)          # a checkpoint exists from here on
        time.sleep(delay)
        proc.kill()
        proc.wait()
        run_dir = next(out.iterdir())
        rows = assert_run_files_whole(run_dir, killed=True)
        assert load_checkpoint(run_dir)["epoch"] in (len(rows), len(rows) - 1)
        json.loads((run_dir / "config.json").read_text())
        json.loads((run_dir / "status.json").read_text())


def test_resume_after_sigint_continues(slow_data, tmp_path):
    proc = start_headless(slow_data, tmp_path / "runs", "--batch-size", "16")
    wait_for_epoch(proc, 2)
    proc.send_signal(signal.SIGINT)
    finish(proc)
    run_dir = next((tmp_path / "runs").iterdir())
    state = load_checkpoint(run_dir)
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--resume", str(run_dir),
                        "--epochs", str(state["epoch"] + 2)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    rows = assert_run_files_whole(run_dir)
    assert len(rows) == state["epoch"] + 2


def test_disk_full_while_saving_keeps_the_old_checkpoint(small_data_dir, tmp_path, monkeypatch):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                                  epochs=1, device="cpu"))
    fit(session, lambda e: None)
    before = session.run.checkpoint_path.read_bytes()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs_mod.os, "fsync", full)
    with pytest.raises(SmtuiError, match="No space left on device"):
        session.run.save_checkpoint(session.checkpoint_state())
    monkeypatch.setattr(runs_mod.os, "fsync", real_fsync)
    assert session.run.checkpoint_path.read_bytes() == before
    assert not [p for p in session.run.path.iterdir() if ".tmp" in p.name]  # no debris


def test_disk_full_mid_run_is_one_line(small_data_dir, tmp_path):
    code = (
        "import errno, os, sys\n"
        "from tui_trainer import runs, cli\n"
        "real = runs.RunDir.save_checkpoint\n"
        "def full(self, state): raise runs.SmtuiError(f'cannot write {self.checkpoint_path}: "
        "No space left on device')\n"
        "runs.RunDir.save_checkpoint = full\n"
        f"cli.main(['--no-ui', '--data-dir', {str(small_data_dir)!r}, '--out', "
        f"{str(tmp_path)!r}, '--batch-size', '16', '--epochs', '2'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("smtui: error: cannot write")
    assert "Traceback" not in r.stderr


def test_truncated_checkpoint(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                                  epochs=1, device="cpu"))
    fit(session, lambda e: None)
    path = session.run.checkpoint_path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SmtuiError, match="not a readable smtui checkpoint"):
        load_checkpoint(path)
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--resume",
                        str(session.run.path)], capture_output=True, text=True)
    assert r.returncode == 1 and "not a readable smtui checkpoint" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    """weights_only=True: a checkpoint that would run code on load is rejected, not executed."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"format": "smtui-checkpoint", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(SmtuiError, match="not a readable smtui checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_resume_with_an_incompatible_checkpoint(small_data_dir, tmp_path):
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                                  epochs=1, device="cpu"))
    fit(session, lambda e: None)
    state = load_checkpoint(session.run.path)
    state["model"] = {"W": torch.zeros(3, 3), "b": torch.zeros(3)}
    session.run.save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(SmtuiError, match="does not fit this model"):
        prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path), batch_size=16,
                            epochs=2, device="cpu"), resume=str(session.run.path))


def test_offline_without_data_and_full_refused(tmp_path):
    r = subprocess.run([sys.executable, "-c",
                        "import tui_trainer.data as d, pathlib, sys; "
                        f"d.DEBIAN_DIR = pathlib.Path({str(tmp_path / 'none')!r}); "
                        "from tui_trainer import cli; "
                        "cli.main(['--no-ui', '--dataset', 'full', '--out', "
                        f"{str(tmp_path / 'runs')!r}])"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "full Fashion-MNIST not found" in r.stderr and "Traceback" not in r.stderr


def test_torn_metrics_line_is_skipped(tmp_path):
    run = RunDir.create(tmp_path, "x")
    run.append_metrics({"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.5,
                        "seconds": 1.0, "lr": 0.1})
    with open(run.metrics_path, "a") as fh:
        fh.write('{"epoch": 2, "train_lo')
    assert [r["epoch"] for r in run.read_metrics()] == [1]


def test_output_dir_that_cannot_be_written(tmp_path, monkeypatch):
    """A read-only output folder (simulated: the tests may run as root, who can write anywhere)."""
    from pathlib import Path

    real_mkdir = Path.mkdir

    def refuse(self, *args, **kw):
        if self.parent == tmp_path / "ro":
            raise PermissionError(13, "Permission denied")
        return real_mkdir(self, *args, **kw)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(SmtuiError, match="output dir .*ro cannot be written: Permission denied"):
        RunDir.create(tmp_path / "ro", "scratch")
