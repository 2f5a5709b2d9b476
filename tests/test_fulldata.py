"""End-to-end runs on the full Fashion-MNIST (skipped outside CI when absent, required in CI)."""

import json
import subprocess
import sys

import pytest

from tui_trainer.core.config import TrainConfig
from tui_trainer.loop.train import fit, prepare


@pytest.mark.process
def test_one_epoch_headless_on_full_data(full_data_dir, tmp_path):
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--epochs", "1",
                        "--data-dir", str(full_data_dir), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "full Fashion-MNIST (60000 train / 10000 test)" in r.stdout
    run_dir = next(tmp_path.iterdir())
    row = json.loads((run_dir / "metrics.jsonl").read_text())
    assert row["epoch"] == 1 and 0.7 < row["test_acc"] < 0.85


@pytest.mark.process
def test_book_defaults_reach_083_and_repeat_exactly(full_data_dir, tmp_path):
    """The book's run (batch 256, lr 0.1, 10 epochs, scratch, sgd): >= 0.83, same seed same numbers.

    The thread count is fixed: sums split over two threads differ from sums on one in the last
    bits, and with --threads auto a busy test machine may make the governor choose one thread
    (test_cpu checks that on an idle machine it never does)."""
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "--no-ui", "--check", "--threads",
                        "2", "--data-dir", str(full_data_dir), "--out", str(tmp_path / "a")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr   # --check: the book's gate passed
    rows = [json.loads(l) for l in next((tmp_path / "a").iterdir()).joinpath(
        "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and rows[-1]["test_acc"] >= 0.83
    session = prepare(TrainConfig(data_dir=str(full_data_dir), device="cpu", threads="2"),
                      create_run=False)
    fit(session, lambda e: None)
    again = session.history
    for a, b in zip(rows, again):
        assert a["train_loss"] == b["train_loss"] and a["train_acc"] == b["train_acc"]
        assert a["test_acc"] == b["test_acc"]


def run_example(name: str, data_dir) -> str:
    """An example program (the book's cells, only the import changed) in a pipe: its stdout."""
    from pathlib import Path

    from tests.support.procs import child_env
    example = Path(__file__).resolve().parent.parent / "examples" / name
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                       timeout=900, env=child_env(SMTUI_DATA_DIR=str(data_dir)))
    assert r.returncode == 0, r.stderr
    return r.stdout


def epoch_rows(lines: list[str]) -> list[tuple[float, float, float]]:
    """(train loss, train acc, test acc) of each `epoch k/n` line a book program printed."""
    import re
    pattern = r"epoch +\d+/\d+ +train loss (\d\.\d+) +train acc (\d\.\d+) +test acc (\d\.\d+).*"
    return [tuple(float(x) for x in found.groups()) for line in lines
            if (found := re.fullmatch(pattern, line))]


@pytest.mark.process
def test_the_books_4_2_4_5_and_6_6_reach_the_books_numbers(full_data_dir):
    """4.2's MLP from scratch (the book: test acc about 0.85 after 10 epochs), 4.5's weight
    decay (its four trainings, each ending with w's norm; with decay the norm is far smaller)
    and 6.6's LeNet (about 0.78 after 10 epochs at lr 0.9), each unchanged but its import.

    The book's programs seed nothing, so each run differs. Their last test accuracy swings by
    several points from epoch to epoch (4.2's ended between 0.80 and 0.85 over six runs here, its
    train loss between 0.381 and 0.385), so the checks hold what is stable: the train loss and
    accuracy, the best test accuracy of the last five epochs, and the book's own 0.7 gate on the
    last one. 6.6's LeNet at lr 0.9 may sit at chance for its first two or three epochs (two
    runs here: 0.816 and 0.774 at the end, 0.816 and 0.789 at best in the last five)."""
    import re
    rows = epoch_rows(run_example("mlp_scratch_4_2.py", full_data_dir).splitlines())
    assert len(rows) == 10, rows
    loss, train_acc, test_acc = rows[-1]
    assert loss < 0.42 and train_acc > 0.85 and test_acc > 0.7, rows[-1]
    assert max(row[2] for row in rows[5:]) > 0.83, rows[5:]
    assert rows[-1][0] < rows[0][0] / 2, rows     # it learned, epoch after epoch
    norms = [float(line.split(":")[1]) for line in
             run_example("weight_decay_4_5.py", full_data_dir).splitlines()
             if line.startswith("L2 norm of w:")]
    assert len(norms) == 4 and norms[1] < norms[0] / 5 and norms[3] < norms[2] / 5, norms
    lines = run_example("lenet_6_6.py", full_data_dir).splitlines()
    rows = epoch_rows(lines)
    assert len(rows) == 10, lines
    found = re.fullmatch(r"loss (\d\.\d+), train acc (\d\.\d+), test acc (\d\.\d+)", lines[-2])
    assert found and all(abs(float(x) - y) < 6e-4      # the book's summary: 3 decimals
                         for x, y in zip(found.groups(), rows[-1])), lines[-12:]
    loss, train_acc, test_acc = rows[-1]
    assert loss < 0.7 and train_acc > 0.7 and test_acc > 0.7, rows[-1]   # the book's gate
    assert max(row[2] for row in rows[5:]) > 0.75, rows[5:]
    assert re.fullmatch(r"\d+\.\d examples/sec on cpu", lines[-1]), lines[-1]
