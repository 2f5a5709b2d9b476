"""Run directories and the smtui command in the tests: runs written by hand (as another program
or version might leave them), smtui in this process or a child, and a run's files read back."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .procs import child_env, default_signals
from .waits import wait_until


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`smtui ARGS` in this process: (exit code, stdout, stderr)."""
    from tui_trainer.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def smtui(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    """`smtui ARGS` in a child process, to its end."""
    return subprocess.run([sys.executable, "-m", "tui_trainer", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kw)


def start_headless(data_dir, out, *extra, **kw) -> subprocess.Popen:
    """A long headless run (batch 2) whose stdout can be read line by line."""
    env = child_env()
    return subprocess.Popen([sys.executable, "-m", "tui_trainer", "--no-ui", "--data-dir",
                             str(data_dir), "--out", str(out), "--batch-size", "2",
                             "--epochs", "1000", *extra],
                            stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=kw.pop("stderr", subprocess.PIPE), text=True, env=env,
                            preexec_fn=kw.pop("preexec_fn", default_signals), **kw)


def status_of(run_dir: Path) -> dict:
    """A run directory's status.json."""
    return json.loads((Path(run_dir) / "status.json").read_text())


def the_run(out: Path) -> Path:
    """The one run directory in `out`, once it exists."""
    wait_until(lambda: out.is_dir() and any(out.iterdir()), what="a run directory")
    return next(out.iterdir())


def epochs_done(run_dir: Path) -> int:
    """Epochs recorded in a run's metrics.jsonl so far."""
    try:
        return len((run_dir / "metrics.jsonl").read_text().splitlines())
    except OSError:
        return 0


def small_session(data_dir, out, **kw):
    """A prepared single run of one epoch at batch 16 on the CPU."""
    from tui_trainer.core.config import TrainConfig
    from tui_trainer.loop.train import prepare

    return prepare(TrainConfig(**{"data_dir": str(data_dir), "out": str(out), "batch_size": 16,
                                  "epochs": 1, "device": "cpu", **kw}))


GOOD = {"epoch": 1, "train_loss": 0.9, "train_acc": 0.7, "test_acc": 0.72, "seconds": 1.0,
        "lr": 0.1}


def make_run(folder: Path, rows: list[bytes], config: bytes = b"{}", status: bytes | None = None):
    """A run directory written by hand, as another program or version might leave one."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_bytes(config)
    (folder / "metrics.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    if status is not None:
        (folder / "status.json").write_bytes(status)
    return folder


def many_runs(folder, count: int) -> list[str]:
    """`count` finished runs of 3 epochs that differ in lr; a higher lr reached a higher
    accuracy and a lower loss."""
    from tui_trainer.core.config import TrainConfig

    paths = []
    for k in range(count):
        lr = round(0.01 * (k + 1), 2)
        rows = [json.dumps({**GOOD, "epoch": e, "test_acc": 0.5 + lr * e / 10,
                            "train_loss": 1.0 - lr * e / 10}).encode() for e in (1, 2, 3)]
        config = json.dumps(TrainConfig(lr=lr, epochs=3).to_dict()).encode()
        paths.append(str(make_run(folder / f"20261130-1000{k:02d}-scratch", rows, config,
                                  b'{"state": "finished"}')))
    return paths


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


def deterministic(rows: list[dict]) -> list[dict]:
    """Metrics rows without what depends on the machine's pace (seconds, CPU use, memory)."""
    from tui_trainer.store.rundir import MACHINE_FIELDS

    return [{k: v for k, v in r.items() if k != "seconds" and k not in MACHINE_FIELDS}
            for r in rows]
