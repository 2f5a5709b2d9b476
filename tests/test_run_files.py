"""Run directories: files written whole, failures recorded, a full disk, checkpoints and rows
from elsewhere."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from tests.support.runs import GOOD, make_run, small_session, start_headless, status_of, the_run
from tests.support.waits import wait_until
from tests.support.procs import finish
from tui_trainer.store import files as runs_mod
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError
from tui_trainer.core.events import EpochEnd, Message, RunEnded
from tui_trainer.store.rundir import RunDir
from tui_trainer.store.files import atomic_write_json, dumps
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.loop.train import fit, prepare
from tui_trainer.store.watch import RunWatcher


MALFORMED_ROWS = {
    "a list": b"[1, 2, 3]",
    "no test_acc": json.dumps({k: v for k, v in GOOD.items() if k != "test_acc"}).encode(),
    "not UTF-8": b'{"epoch": 2, "train_loss": 0.5, "\xff": 1}',
    "test_acc as text": json.dumps({**GOOD, "epoch": 2, "test_acc": "0.8"}).encode(),
    "not JSON": b"{epoch: 2",
}


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_an_error_inside_the_loop_marks_the_run_failed(small_data_dir, tmp_path, monkeypatch):
    from tui_trainer.loop import train as train_mod

    session = small_session(small_data_dir, tmp_path)

    def broken(*args, **kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(train_mod.SingleLoop, "step", broken)
    with pytest.raises(RuntimeError):
        fit(session, lambda e: None)
    status = status_of(session.run.path)
    assert status["state"] == "failed" and "a bug" in status["message"]
    again = RunDir(session.run.path)
    again.acquire_lock()                         # the failed run is not left locked
    again.release_lock()


@pytest.mark.process
def test_an_internal_error_exit_70_leaves_status_failed(small_data_dir, tmp_path):
    code = ("from tui_trainer import cli\nfrom tui_trainer.loop import train\n"
            "def broken(*a, **k): raise RuntimeError('a bug')\n"
            "train.SingleLoop.step = broken\n"
            f"cli.main(['--no-ui', '--data-dir', {str(small_data_dir)!r}, '--out', "
            f"{str(tmp_path / 'runs')!r}, '--batch-size', '16'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 70 and "internal error" in r.stderr
    assert status_of(next((tmp_path / "runs").iterdir()))["state"] == "failed"


def test_a_failure_while_setting_up_the_run_marks_it_failed(small_data_dir, tmp_path,
                                                             monkeypatch):
    def full(self, *args, **kw):
        raise SmtuiError(f"cannot write {self.config_path}: No space left on device")

    monkeypatch.setattr(RunDir, "write_config", full)
    with pytest.raises(SmtuiError, match="No space left"):
        small_session(small_data_dir, tmp_path / "runs")
    run_dir = next((tmp_path / "runs").iterdir())
    assert status_of(run_dir)["state"] == "failed"


def test_a_divergence_in_the_first_epoch_claims_no_checkpoint(small_data_dir, tmp_path):
    session = small_session(small_data_dir, tmp_path, softmax="naive", lr=1e4)
    ended = fit(session, lambda e: None)
    assert ended.status == "diverged" and ended.checkpoint is None
    assert "no checkpoint" in ended.message and "kept" not in ended.message


@pytest.mark.parametrize("kind", list(MALFORMED_ROWS))
def test_malformed_metrics_rows_are_skipped_with_one_warning(tmp_path, kind):
    good2 = json.dumps({**GOOD, "epoch": 2}).encode()
    run = make_run(tmp_path / "run", [json.dumps(GOOD).encode(), MALFORMED_ROWS[kind], good2])
    watcher = RunWatcher(run)
    events = watcher.poll(evaluate=False) + watcher.poll(evaluate=False)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    warnings = [e.text for e in events if isinstance(e, Message) and e.level == "warning"]
    assert len(warnings) == 1 and "line 2" in warnings[0] and "metrics.jsonl" in warnings[0]


def test_every_json_file_is_strict_json(small_data_dir, tmp_path):
    """An untrained model is never 99% sure: the reject curve's top thresholds answer nothing."""
    session = small_session(small_data_dir, tmp_path, lr=1e-6)
    fit(session, lambda e: None)
    for name in ("analysis.json", "config.json", "status.json"):
        strict_loads((session.run.path / name).read_text())
    analysis = strict_loads((session.run.path / "analysis.json").read_text())
    top = analysis["reject_curve"][-1]
    assert top["threshold"] == 0.99 and top["coverage"] == 0 and top["accuracy"] is None
    atomic_write_json(tmp_path / "x.json", {"a": [float("nan"), float("inf"), 1.5]})
    assert strict_loads((tmp_path / "x.json").read_text()) == {"a": [None, None, 1.5]}
    assert dumps({"b": float("-inf")}) == '{"b": null}'


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


@pytest.mark.process
def test_disk_full_mid_run_is_one_line(small_data_dir, tmp_path):
    code = (
        "import errno, os, sys\n"
        "from tui_trainer import cli\nfrom tui_trainer.store import rundir as runs\n"
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


@pytest.mark.process
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
    with pytest.raises(SmtuiError) as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    # said whole (it was cut mid-word: "...in torch.load fr)")
    assert str(info.value) == (f"{tmp_path / 'evil.pt'} holds code, not only weights: smtui "
                               "runs no code from a checkpoint (train the run again, or ask "
                               "whoever wrote it)")


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


@pytest.mark.process
def test_out_of_memory_is_the_users_error_and_the_run_is_marked_failed(slow_data, tmp_path):
    """Under an address-space limit (a container's memory, ulimit -v), a batch that does not fit
    ends in one line naming what to lower, exit 1, and status.json says failed: the allocation
    (here, the thread probe's batch, before the first step) happens inside what records the
    run's end."""
    code = (
        "import resource, sys, torch\n"
        "from tui_trainer import cli\n"
        "size = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
        "if l.startswith('VmSize'))\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + 2**30, size + 2**30))\n"
        f"cli.main(['--no-ui', '--data-dir', {str(slow_data)!r}, '--out', "
        f"{str(tmp_path / 'runs')!r}, '--resize', '512', '--batch-size', '3000', "
        "'--epochs', '1'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smtui: error: out of memory: "), r.stderr
    assert "lower --batch-size or --resize" in lines[0]
    (run_dir,) = (tmp_path / "runs").iterdir()
    status = status_of(run_dir)
    assert status["state"] == "failed" and status["message"].startswith("out of memory")


@pytest.fixture
def small_disk(tmp_path):
    """A real disk of 160 KB (tmpfs) that a run fills; skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:80]})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.process
def test_a_full_disk_leaves_a_status_that_says_so(small_data_dir, small_disk):
    """Another program fills the disk while a run trains (every block freed is taken again):
    one line, exit 1, the last good checkpoint loads, and status.json, which cannot be
    replaced without a temporary file, still says failed, not running; the viewer's watcher
    reports it."""
    from tui_trainer.store.watch import RunWatcher
    out = small_disk / "runs"
    proc = start_headless(small_data_dir, out, "--batch-size", "16")
    run_dir = the_run(out)
    wait_until(lambda: (run_dir / "checkpoint.pt").exists(), what="a first checkpoint")
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while proc.poll() is None:
            try:
                os.write(fd, bytes(4096))
            except OSError:
                time.sleep(0.002)
    finally:
        os.close(fd)
    _, err = finish(proc)
    assert proc.returncode == 1, err[-500:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("smtui: error: cannot write") and "No space left" in last
    status = status_of(run_dir)
    assert status["state"] == "failed" and "No space left" in status["message"]
    assert load_checkpoint(run_dir)["epoch"] >= 1
    ended = [e for e in RunWatcher(run_dir).poll(evaluate=False) if isinstance(e, RunEnded)]
    assert ended and ended[0].status == "failed" and "No space left" in ended[0].message


@pytest.mark.parametrize("change, expected", [
    (lambda s: s.pop("epoch"), "it has no epoch"),
    (lambda s: s.update(model=[1, 2]), "its model is a list, not a dict"),
    (lambda s: s.update(rng=None), "its rng is a NoneType, not a Tensor"),
    (lambda s: s["model"].update(W="weights"), "its model's W is a str, not a tensor"),
    (lambda s: s.update(partial=[0.0]), "its partial epoch is not three numbers"),
    (lambda s: s.update(version=99), "format version 99 that this smtui (format version 1) "
                                     "cannot use: it was written by a newer smtui"),
], ids=["no epoch", "model a list", "no rng", "a weight not a tensor", "partial", "newer"])
def test_a_checkpoint_from_elsewhere_is_one_line_everywhere(small_data_dir, tmp_path, capsys,
                                                            change, expected):
    """A checkpoint of another version, tool or hand edit: one line naming the version and what
    is wrong, on --resume (headless and the TUI's base config) and in the viewer."""
    import torch as torch_
    from tui_trainer.cli import main
    from tui_trainer.store.watch import RunWatcher
    session = small_session(small_data_dir, tmp_path)
    fit(session, lambda e: None)
    state = torch_.load(session.run.checkpoint_path, weights_only=True)
    change(state)
    torch_.save(state, session.run.checkpoint_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-ui", "--resume", str(session.run.path), "--epochs", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 1 and len(err) == 1 and expected in err[0], err
    assert err[0].startswith("smtui: error: ") and "smtui checkpoint of format version" in err[0]
    warnings = [e.text for e in RunWatcher(session.run.path).poll() if isinstance(e, Message)]
    assert any(expected in text for text in warnings), warnings


@pytest.mark.process
@pytest.mark.parametrize("planted", [".lock", "log.txt", "metrics.jsonl", "status.json",
                                     ".checkpoint.pt.tmp{pid}"])
def test_a_resume_never_writes_through_a_link_planted_in_the_run(small_data_dir, tmp_path,
                                                                 planted):
    """A `.lock` linked to ~/.bashrc was truncated to the pid, a `log.txt` link appended to:
    every file smtui writes in a run directory is opened without following links (refused in
    one line, or replaced as a link itself), and the linked file is left as it was."""
    import subprocess
    import sys

    from tests.support.procs import child_env
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.train import fit, prepare
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                                  epochs=1, batch_size=16, device="cpu", threads="1"))
    fit(session, lambda e: None)
    session.run.release_lock()
    precious = tmp_path / "bashrc"
    precious.write_text("export PATH=precious\n")
    run = session.run.path
    r = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                       capture_output=True, text=True)
    name = planted.format(pid=r.stdout.strip())   # a pid that is gone
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(precious)
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--resume", str(run),
                        "--epochs", "2", "--data-dir", str(small_data_dir)], capture_output=True,
                       text=True, env=child_env(), timeout=300)
    assert precious.read_text() == "export PATH=precious\n", (planted, r.stderr)
    if planted == ".lock":   # the others are replaced (a rename), the link itself
        assert r.returncode != 0 and "is a symbolic link" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    else:
        assert r.returncode == 0, r.stderr


@pytest.mark.process
def test_a_killed_writes_temporary_files_are_removed_on_the_next_start(small_data_dir,
                                                                      tmp_path):
    """`kill -9` during a checkpoint's write left `.checkpoint.pt.tmpPID` for good (three kills,
    6.7 MB): those of a process that is gone are removed once a process holds the run."""
    import subprocess
    import sys

    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.train import fit, prepare
    session = prepare(TrainConfig(data_dir=str(small_data_dir), out=str(tmp_path / "runs"),
                                  epochs=1, batch_size=16, device="cpu", threads="1"))
    fit(session, lambda e: None)
    session.run.release_lock()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    run = session.run.path
    (run / f".checkpoint.pt.tmp{gone}").write_bytes(b"x" * 1000)
    (run / f".status.json.tmp{os.getppid()}").write_bytes(b"mine")   # a live process's
    resumed = prepare(session.config.replace(epochs=2), resume=str(run))
    assert not (run / f".checkpoint.pt.tmp{gone}").exists()
    assert (run / f".status.json.tmp{os.getppid()}").exists()
    resumed.run.release_lock()
