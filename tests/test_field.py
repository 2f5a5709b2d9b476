"""Reliability in the field: lost terminals, signals, resuming with new settings, two processes
on one run, stale caches, odd data, numbers and paths at the edges, markup-like text, and run
files written by someone else. Each test names the class of failure it guards against."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from idxdata import write_small_idx
from procs import child_env, finish
from tui_trainer import data as data_mod
from tui_trainer.config import TrainConfig
from tui_trainer.errors import DataError, SmtuiError
from tui_trainer.events import BatchEnd, EpochEnd, Message
from tui_trainer.runs import RunDir, atomic_write_json, dumps, load_checkpoint
from tui_trainer.train import fit, prepare
from tui_trainer.updaters import BookSGD
from tui_trainer.watch import RunWatcher


def smtui(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_trainer", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kw)


def start(data_dir, out, *extra, **kw) -> subprocess.Popen:
    """A long headless run (batch 2) whose stdout can be read line by line."""
    env = child_env()
    return subprocess.Popen([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                             str(data_dir), "--out", str(out), "--batch-size", "2",
                             "--epochs", "1000", *extra],
                            stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=kw.pop("stderr", subprocess.PIPE), text=True, env=env, **kw)


def wait_until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in time")
        time.sleep(0.05)


def the_run(out: Path) -> Path:
    wait_until(lambda: out.is_dir() and any(out.iterdir()), what="a run directory")
    return next(out.iterdir())


def status_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def epochs_done(run_dir: Path) -> int:
    try:
        return len((run_dir / "metrics.jsonl").read_text().splitlines())
    except OSError:
        return 0


@pytest.fixture
def slow_data(tmp_path):
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=3000, n_test=100)
    return folder


def small_session(data_dir, out, **kw):
    return prepare(TrainConfig(**{"data_dir": str(data_dir), "out": str(out), "batch_size": 16,
                                  "epochs": 1, "device": "cpu", **kw}))


# ---------------------------------------------------------------- 1. signals and lost consoles

def test_sighup_stops_headless_like_sigterm(slow_data, tmp_path):
    proc = start(slow_data, tmp_path / "runs")
    run_dir = the_run(tmp_path / "runs")
    wait_until(lambda: epochs_done(run_dir) >= 1, what="one epoch")
    proc.send_signal(signal.SIGHUP)
    out, err = finish(proc)
    assert proc.returncode == 129, err
    assert "Traceback" not in err
    status = status_of(run_dir)
    assert status["state"] == "stopped" and "SIGHUP" in status["reason"]
    assert status["resume"] == f"smtui --no-ui --resume {run_dir}"
    state = load_checkpoint(run_dir)
    assert state["epoch"] == epochs_done(run_dir)       # the exact point, metrics agree
    log = (run_dir / "log.txt").read_text()
    assert "epoch" in log and "resume with: smtui --no-ui --resume" in log


def test_nohup_keeps_training_through_a_hangup(slow_data, tmp_path):
    """A SIGHUP ignored at start (nohup) stays ignored: that is what the user asked for."""
    proc = start(slow_data, tmp_path / "runs",
                 preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    run_dir = the_run(tmp_path / "runs")
    wait_until(lambda: epochs_done(run_dir) >= 1, what="one epoch")
    proc.send_signal(signal.SIGHUP)
    done = epochs_done(run_dir)
    wait_until(lambda: epochs_done(run_dir) > done + 1, what="training past the hangup")
    assert proc.poll() is None and status_of(run_dir)["state"] == "running"
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    assert proc.returncode == 143


@pytest.mark.parametrize("console", ["reader gone", "closed", "device full"])
def test_output_that_cannot_be_written_never_stops_training(small_data_dir, tmp_path, console):
    """The console is gone (`| head -1`, a closed descriptor, /dev/full): training finishes,
    exit 0, and the run directory, log.txt included, is the record."""
    args = [sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir", str(small_data_dir),
            "--out", str(tmp_path / "runs"), "--batch-size", "8", "--epochs", "3"]
    if console == "reader gone":
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()                       # as `| head -1` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    elif console == "closed":
        r = subprocess.run(args, preexec_fn=lambda: (os.close(1), os.close(2)), timeout=120)
        code, err = r.returncode, ""
    else:
        with open("/dev/full", "w") as full:
            r = subprocess.run(args, stdout=full, stderr=full, timeout=120)
        code, err = r.returncode, ""
    assert code == 0, err
    assert "Traceback" not in err
    run_dir = next((tmp_path / "runs").iterdir())
    assert status_of(run_dir)["state"] == "finished"
    assert epochs_done(run_dir) == 3
    log = (run_dir / "log.txt").read_text()
    assert "epoch 3/3" in log and "per-class accuracy" in log


# ---------------------------------------------------------------- 3. never left "running"

def test_an_error_inside_the_loop_marks_the_run_failed(small_data_dir, tmp_path, monkeypatch):
    from tui_trainer import train as train_mod

    session = small_session(small_data_dir, tmp_path)

    def broken(*args, **kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(train_mod, "train_epoch", broken)
    with pytest.raises(RuntimeError):
        fit(session, lambda e: None)
    status = status_of(session.run.path)
    assert status["state"] == "failed" and "a bug" in status["message"]
    again = RunDir(session.run.path)
    again.acquire_lock()                         # the failed run is not left locked
    again.release_lock()


def test_an_internal_error_exit_70_leaves_status_failed(small_data_dir, tmp_path):
    code = ("from tui_trainer import train, cli\n"
            "def broken(*a, **k): raise RuntimeError('a bug')\n"
            "train.train_epoch = broken\n"
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


def test_a_stop_before_the_first_batch_says_so(small_data_dir, tmp_path):
    from tui_trainer.events import Control

    session = small_session(small_data_dir, tmp_path)
    control = Control()
    control.request_stop()
    ended = fit(session, lambda e: None, control)
    assert ended.status == "stopped" and "before the first batch" in ended.message
    status = status_of(session.run.path)
    assert status["state"] == "stopped" and "before the first batch" in status["message"]
    assert load_checkpoint(session.run.path)["epoch"] == 0    # resumable from the start


# ---------------------------------------------------------------- 4-5. resume semantics

@pytest.fixture
def trained(small_data_dir, tmp_path):
    """A finished 2-epoch run of the book's sgd; returns its directory."""
    session = small_session(small_data_dir, tmp_path / "runs", epochs=2, lr=0.1)
    fit(session, lambda e: None)
    return session.run.path


def resumed(run_dir, **changes):
    base = TrainConfig.from_dict(load_checkpoint(run_dir)["config"])
    return prepare(base.replace(**changes), resume=str(run_dir))


def test_resume_applies_a_new_lr_and_records_it(trained):
    session = resumed(trained, lr=0.5, epochs=3)
    assert isinstance(session.updater, BookSGD) and session.updater.lr == 0.5
    config = json.loads((trained / "config.json").read_text())
    assert config["lr"] == 0.5
    assert config["resumed"][-1]["changed"]["lr"] == [0.1, 0.5]
    fit(session, lambda e: None)
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == [0.1, 0.1, 0.5]


def test_resume_applies_lr_and_weight_decay_to_a_torch_optimizer(small_data_dir, tmp_path):
    session = small_session(small_data_dir, tmp_path, optimizer="adam", lr=0.01)
    fit(session, lambda e: None)
    again = resumed(session.run.path, lr=0.002, weight_decay=0.01, epochs=2)
    group = again.updater.param_groups[0]
    assert group["lr"] == 0.002 and group["weight_decay"] == 0.01
    assert again.updater.state       # Adam's moments survive: only the settings changed


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != ".lock":
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 1}, "--epochs 1 is below the 2 epochs"),
    ({"seed": 7}, "seed=1, not 7"),
    ({"model": "mlp"}, "model='scratch', not 'mlp'"),
    ({"out": "elsewhere"}, "stays in its own directory"),
])
def test_resume_refusals_leave_the_run_untouched(trained, changes, message):
    before = tree_digest(trained)
    with pytest.raises(SmtuiError, match=message):
        resumed(trained, **changes)
    assert tree_digest(trained) == before


def test_resume_with_fewer_epochs_from_the_command_line(trained):
    before = tree_digest(trained)
    r = smtui("--no-ui", "--resume", trained, "--epochs", "1")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"smtui: error: --epochs 1 is below the 2 epochs {trained} has "
                                "trained; pass --epochs 2 or more")
    assert tree_digest(trained) == before


def test_batch_size_changes_only_at_an_epoch_boundary(small_data_dir, tmp_path):
    from tui_trainer.events import Control

    session = small_session(small_data_dir, tmp_path, epochs=3, batch_size=4)
    control = Control()

    def stop_mid_epoch(event):
        if isinstance(event, BatchEnd) and event.epoch == 2:
            control.request_stop()

    fit(session, stop_mid_epoch, control)
    run_dir = session.run.path
    assert load_checkpoint(run_dir)["batch"] > 0
    with pytest.raises(SmtuiError, match="--batch-size cannot change in the middle of an epoch"):
        resumed(run_dir, batch_size=8)
    fit(resumed(run_dir), lambda e: None)        # finishes the epoch with its batch size...
    again = resumed(run_dir, batch_size=8, epochs=4)   # ...after which it may change
    assert again.train_iter.batch_size == 8


# ---------------------------------------------------------------- 6. one writer per run

def test_a_run_being_trained_cannot_be_resumed_by_another_process(slow_data, tmp_path):
    proc = start(slow_data, tmp_path / "runs")
    try:
        run_dir = the_run(tmp_path / "runs")
        wait_until(lambda: epochs_done(run_dir) >= 1, what="one epoch")
        r = smtui("--no-ui", "--resume", run_dir, "--epochs", "1000")
        assert r.returncode == 1
        assert r.stderr.strip() == (f"smtui: error: run {run_dir} is being trained by another "
                                    f"process (pid {proc.pid}); stop it first, or watch it "
                                    "with smtui view")
        proc.kill()                       # a crash: the kernel drops the lock with the process
        proc.wait()
        rows = epochs_done(run_dir)
        session = resumed(run_dir, epochs=rows + 1)
        fit(session, lambda e: None)
        assert epochs_done(run_dir) == rows + 1
    finally:
        proc.kill()


# ---------------------------------------------------------------- 7. the book loader's cache

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


def test_an_unwritable_cache_is_a_clear_error(small_data_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("SMTUI_CACHE_DIR", str(blocker))
    data = data_mod.load_fashion_mnist(str(small_data_dir))
    with pytest.raises(DataError, match="cannot write the data cache .* for --loader book"):
        data_mod.make_loaders(data, 8, loader="book", num_workers=0)
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--loader", "book", "--out",
              tmp_path / "runs", "--batch-size", "8", env={**os.environ, "SMTUI_CACHE_DIR": str(blocker)})
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("smtui: error: cannot write the data cache")


# ---------------------------------------------------------------- 8. data of the wrong shape

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


# ---------------------------------------------------------------- 9. edges of numbers and paths

LONG = "x" * 300


@pytest.mark.parametrize("args, code, start_", [
    (["--lr", "1e308"], 2, "smtui: error: --lr must be between"),
    (["--lr", "1e308", "--optimizer", "torch-sgd"], 2, "smtui: error: --lr must be between"),
    (["--lr", "1e-320"], 2, "smtui: error: --lr must be between"),
    (["--weight-decay", "1e308", "--optimizer", "adam"], 2,
     "smtui: error: --weight-decay must be 0 or between"),
    (["--weight-decay", "0.1"], 2, "smtui: error: --weight-decay applies to"),
    (["--seed", str(2**64)], 2, "smtui: error: --seed must be a whole number from 0"),
    (["--seed", "1" * 40], 2, "smtui: error: --seed must be a whole number from 0"),
    (["--epochs", str(10**12)], 2, "smtui: error: --epochs must be at most"),
    (["--batch-size", str(10**30)], 2, "smtui: error: --batch-size must be at most"),
    (["--num-workers", "1000000"], 2, "smtui: error: --num-workers must be a whole number"),
    (["--softmax", "naive", "--model", "concise"], 2, "smtui: error: --softmax naive applies"),
    (["--out", LONG], 1, "smtui: error: "),
    (["--out", f"runs/{LONG}/x"], 1, "smtui: error: "),
    (["--data-dir", LONG], 1, "smtui: error: "),
    (["--data-dir", ".", "--dataset", "subset"], 2, "smtui: error: --data-dir goes with"),
    (["--resume", LONG], 1, "smtui: error: "),
    (["--resume", f"{LONG}/checkpoint.pt"], 1, "smtui: error: "),
])
def test_no_user_input_reaches_an_internal_error(tmp_path, args, code, start_):
    r = smtui("--no-ui", "--epochs", "1", *args, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith(start_) and r.stderr.count("\n") == 1, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", [["compare", LONG], ["view", LONG], ["compare", "."]])
def test_run_commands_with_odd_paths(tmp_path, command):
    r = smtui(*command, cwd=tmp_path)
    assert r.returncode in (1, 2) and r.stderr.startswith("smtui: error: "), r.stderr
    assert "internal error" not in r.stderr


def test_the_largest_seed_works(small_data_dir, tmp_path):
    session = small_session(small_data_dir, tmp_path, seed=2**64 - 1)
    assert fit(session, lambda e: None).status == "finished"


def test_a_divergence_in_the_first_epoch_claims_no_checkpoint(small_data_dir, tmp_path):
    session = small_session(small_data_dir, tmp_path, softmax="naive", lr=1e4)
    ended = fit(session, lambda e: None)
    assert ended.status == "diverged" and ended.checkpoint is None
    assert "no checkpoint" in ended.message and "kept" not in ended.message


# ---------------------------------------------------------------- 11. run files from elsewhere

GOOD = {"epoch": 1, "train_loss": 0.9, "train_acc": 0.7, "test_acc": 0.72, "seconds": 1.0,
        "lr": 0.1}

MALFORMED_ROWS = {
    "a list": b"[1, 2, 3]",
    "no test_acc": json.dumps({k: v for k, v in GOOD.items() if k != "test_acc"}).encode(),
    "not UTF-8": b'{"epoch": 2, "train_loss": 0.5, "\xff": 1}',
    "test_acc as text": json.dumps({**GOOD, "epoch": 2, "test_acc": "0.8"}).encode(),
    "not JSON": b"{epoch: 2",
}


def make_run(folder: Path, rows: list[bytes], config: bytes = b"{}", status: bytes | None = None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_bytes(config)
    (folder / "metrics.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    if status is not None:
        (folder / "status.json").write_bytes(status)
    return folder


@pytest.mark.parametrize("kind", list(MALFORMED_ROWS))
def test_malformed_metrics_rows_are_skipped_with_one_warning(tmp_path, kind):
    good2 = json.dumps({**GOOD, "epoch": 2}).encode()
    run = make_run(tmp_path / "run", [json.dumps(GOOD).encode(), MALFORMED_ROWS[kind], good2])
    watcher = RunWatcher(run)
    events = watcher.poll(evaluate=False) + watcher.poll(evaluate=False)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    warnings = [e.text for e in events if isinstance(e, Message) and e.level == "warning"]
    assert len(warnings) == 1 and "line 2" in warnings[0] and "metrics.jsonl" in warnings[0]


@pytest.mark.parametrize("config, status", [
    (b"[]", b'{"state": "finished"}'),
    (b'{"epochs": "ten", "lr": "x", "model": 3}', b"[1, 2]"),
    (b"\xff\xfe", b'{"state": 5, "pid": "x", "batch": "y"}'),
    (b'{"epochs": 2}', b'{"state": "running", "pid": 1, "epoch": "1", "batch": 2, '
                       b'"num_batches": 0}'),
])
def test_malformed_config_and_status_never_break_the_watcher(tmp_path, config, status):
    run = make_run(tmp_path / "run", [json.dumps(GOOD).encode()], config, status)
    watcher = RunWatcher(run)
    events = watcher.poll(evaluate=False)
    events += watcher.poll(evaluate=False)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1]
    texts = [e.text for e in events if isinstance(e, Message)]
    assert len(texts) == len(set(texts))            # each problem said once
    assert watcher.config is not None and watcher.config.validate() == {}


def test_compare_keeps_what_is_valid(tmp_path):
    from tui_trainer.ui.runs_panel import RunRecord

    run = make_run(tmp_path / "run", [json.dumps(GOOD).encode(), b"[]"], b"[]", b"nope")
    record = RunRecord.from_dir(run)
    assert record.test_acc == [0.72] and record.config == {} and record.status == ""
    assert len(record.problems) == 3


def test_view_of_a_plain_file_says_it_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    r = smtui("view", tmp_path / "notes.txt")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"smtui: error: {tmp_path / 'notes.txt'} is a file, not a run "
                                "directory (a folder with config.json, or an --out folder of runs)")


# ---------------------------------------------------------------- 12. strict JSON

def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


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


def test_headless_says_when_no_image_reaches_the_threshold(small_data_dir, tmp_path):
    r = smtui("--no-ui", "--data-dir", small_data_dir, "--out", tmp_path, "--lr", "1e-6",
              "--epochs", "1", "--batch-size", "16")
    assert r.returncode == 0, r.stderr
    assert "no test image reaches confidence 0.9" in r.stdout and "nan" not in r.stdout


def test_a_resume_rewrites_a_csv_left_one_epoch_behind(tmp_path):
    """kill -9 between an epoch's two appends: metrics.jsonl (the record) has the epoch, the CSV
    not yet; resuming from that epoch's checkpoint makes them agree."""
    run = RunDir.create(tmp_path, "x")
    for epoch in (1, 2):
        run.append_metrics({**GOOD, "epoch": epoch})
    lines = run.csv_path.read_text().splitlines()
    run.csv_path.write_text("\n".join(lines[:-1]) + "\n")      # the CSV lost epoch 2
    run.truncate_metrics(2)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert [line.split(",")[0] for line in run.csv_path.read_text().splitlines()] == \
        ["epoch", "1", "2"]


@pytest.mark.parametrize("paused", [False, True])
def test_a_stop_signal_never_finds_a_lock_of_the_loop_held(paused):
    """A signal handler runs in the main thread between any two bytecodes, so also inside the
    loop's own `should_stop`: had that held a lock the handler takes (an Event's), the process
    would hang for good. (Seen once in five suite runs under load: SIGINT, no exit in 30 s.)
    Emulated here: at every line run inside `should_stop`, threading's own code included, the
    handler's locks must be free, and the handler then runs there."""
    from tui_trainer.events import Control

    control = Control()
    if paused:
        control.pause()
    locks = [event._cond for event in (control.stop, control.resume)]
    lines, held = [], []

    def tracer(frame, event, arg):
        if event == "line":
            lines.append(frame.f_code.co_name)
            if any(cond._lock.locked() for cond in locks):
                held.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
            elif paused and len(lines) > 20:
                control.request_stop("SIGINT")     # what the handler does
        return tracer

    sys.settrace(tracer)
    try:
        stopped = control.should_stop()
    finally:
        sys.settrace(None)
    assert lines and not held, held
    assert stopped == paused
