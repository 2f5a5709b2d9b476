"""The book's API past chapter 3 through the drop-in: evaluate_loss (4.4), corr2d (6.2),
try_all_gpus and evaluate_accuracy_gpu, and train_ch6 (6.6) through smtui's loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from tests.support.tmux import Tmux, tmux_only
from tui_trainer import d2l


def test_corr2d_is_the_books_example():
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert torch.equal(d2l.corr2d(X, K), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))


def test_evaluate_loss_is_the_mean_over_every_example():
    X = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([2.0, 2.0, 2.0])
    batches = [(X[:2], y[:2]), (X[2:], y[2:])]
    loss = nn.MSELoss(reduction="none")
    # (1-2)^2, 0, (3-2)^2 over three examples
    assert d2l.evaluate_loss(lambda X: X, batches, loss) == 2 / 3


def test_devices_and_accuracy_on_the_nets_device():
    assert d2l.try_all_gpus() == ([torch.device(f"cuda:{i}")
                                   for i in range(torch.cuda.device_count())]
                                  or [torch.device("cpu")])
    net = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert d2l.evaluate_accuracy_gpu(net, [(X, torch.tensor([0, 1, 1]))]) == 2 / 3


LENET = """
import pytest
import torch
from torch import nn
from tui_trainer import d2l

torch.manual_seed(0)
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
    nn.Linear(84, 10))
batch_size = 16
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size=batch_size)
lr, num_epochs = 0.9, 2
d2l.train_ch6(net, train_iter, test_iter, num_epochs, lr, d2l.try_gpu())
"""


@pytest.mark.process
def test_train_ch6_as_the_book_prints_it_in_a_pipe(small_data_dir, tmp_path):
    """6.6's LeNet cell, only the import changed: smtui's loop trains it (one line an epoch in a
    pipe), then the book's two closing lines."""
    program = tmp_path / "lenet.py"
    program.write_text(LENET)
    r = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                       timeout=300, env={**os.environ,
                                         "SMTUI_DATA_DIR": str(small_data_dir)})
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "training on cpu"
    assert [line.split()[0] for line in lines[1:3]] == ["epoch", "epoch"]   # smtui's lines
    assert re.fullmatch(r"loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}", lines[-2])
    assert re.fullmatch(r"\d+\.\d examples/sec on cpu", lines[-1])
    train_acc = float(lines[-2].split("train acc ")[1].split(",")[0])
    assert 0.0 <= train_acc <= 1.0


def test_train_ch6_counts_examples_per_second_over_training_time_as_the_book(
        small_data_dir, tmp_path, monkeypatch, capsys):
    """The book's timer runs around the training batches only: the closing line's rate leaves
    the test set's evaluation out, which each epoch's metrics row records (eval_seconds)."""
    import json
    monkeypatch.setenv("SMTUI_DATA_DIR", str(small_data_dir))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    d2l.train_ch6(net, train_iter, test_iter, 2, 0.1, torch.device("cpu"),
                  out=str(tmp_path / "runs"))
    (run,) = (tmp_path / "runs").iterdir()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < row["eval_seconds"] < row["seconds"] for row in rows), rows
    trained = sum(row["seconds"] - row["eval_seconds"] for row in rows)
    rate = float(capsys.readouterr().out.strip().splitlines()[-1].split()[0])
    # the rows keep four decimals of seconds: the rate agrees to their precision
    assert rate == pytest.approx(train_iter.num_examples * 2 / trained, rel=0.02)


@pytest.mark.tmux
@tmux_only
def test_train_ch6_live_in_tmux_at_80x24_without_colour(small_data_dir, tmp_path):
    """6.6's cell in a real terminal of 80x24 under NO_COLOR: the app titled by the book's
    function and the learner's net, then the book's closing lines in the scrollback."""
    program = tmp_path / "lenet.py"
    program.write_text(LENET.replace("lr, num_epochs = 0.9, 2", "lr, num_epochs = 0.9, 30"))
    tmux = Tmux(f"cd {tmp_path} && NO_COLOR=1 SMTUI_DATA_DIR={small_data_dir} "
                f"{sys.executable} lenet.py; echo EXIT=$?; sleep 60", 80, 24)
    try:
        screen = tmux.wait_for("train_ch6 in lenet.py", timeout=120)
        assert "Sequential: Conv2d, Sigmoid" in screen.splitlines()[0]
        tmux.wait_for("EXIT=0", timeout=300)
        lines = subprocess.run([*tmux.tmux, "capture-pane", "-p", "-S", "-60", "-t", tmux.name],
                               capture_output=True, text=True).stdout.splitlines()
        closing = [line for line in lines if line.startswith(("loss ", "training on"))]
        assert closing[0] == "training on cpu" and re.match(r"loss \d\.\d{3}, train acc",
                                                             closing[-1]), lines
        assert any(re.fullmatch(r"\d+\.\d examples/sec on cpu", line) for line in lines)
    finally:
        tmux.kill()
