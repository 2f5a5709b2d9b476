"""A learner's typical mistakes, each as the one line their program ends with: their file and
line, their words, the batch they chose, what to do, and the exit code; nothing of smtui's
frames unless SMTUI_DEBUG asks (mistakes.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.support.procs import child_env, finish
from tui_trainer.core import mistakes
from tui_trainer.loop.usercode import FunctionNet, never_trained

HINT = "(SMTUI_DEBUG=1 shows the whole traceback)"

HEAD = """
import torch
from torch import nn
from tui_trainer import d2l
batch_size = 10
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
"""

SCRATCH = HEAD + """
W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
b = torch.zeros(10, requires_grad=True)
def softmax(X):
    X_exp = torch.exp(X)
    return X_exp / X_exp.sum(1, keepdim=True)
def net(X):
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)
def cross_entropy(y_hat, y):
    return - torch.log(y_hat[range(len(y_hat)), y])
lr = 0.1
def updater(batch_size):
    return d2l.sgd([W, b], lr, batch_size)
d2l.train_ch3(net, train_iter, test_iter, cross_entropy, 2, updater)
"""

MLP_4_2 = HEAD + """
W1 = nn.Parameter(torch.randn(784, 256, requires_grad=True) * 0.01)
b1 = nn.Parameter(torch.zeros(256, requires_grad=True))
W2 = nn.Parameter(torch.randn(256, 10, requires_grad=True) * 0.01)
b2 = nn.Parameter(torch.zeros(10, requires_grad=True))
params = [W1, b1, W2, b2]
def relu(X):
    a = torch.zeros_like(X)
    return torch.max(X, a)
def net(X):
    H = relu(X@W1 + b1)
    return (H@W2 + b2)
loss = nn.CrossEntropyLoss(reduction='none')
updater = torch.optim.SGD(params, lr=0.1)
d2l.train_ch3(net, train_iter, test_iter, loss, 2, updater)
"""

CONCISE_B1 = HEAD + """
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))
loss = nn.CrossEntropyLoss(reduction='none')
trainer = torch.optim.SGD(net.parameters(), lr=0.1)
d2l.train_ch3(net, train_iter, test_iter, loss, 2, trainer)
"""


def run_program(folder: Path, data_dir: Path, text: str, **env: str):
    """The learner's program run as they would, in a pipe: (exit code, stdout, stderr)."""
    (folder / "prog.py").write_text(text)
    proc = subprocess.Popen([sys.executable, "prog.py"], cwd=folder, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(SMTUI_DATA_DIR=str(data_dir), **env))
    out, err = finish(proc, timeout=300)
    return proc.returncode, out, err


def train_model_file(folder: Path, data_dir: Path, spec: str, merged: bool = False):
    """`smtui --no-ui --model SPEC` for one epoch in `folder`: (exit code, stdout, stderr);
    `merged`: both streams in stdout, in the order they were written."""
    proc = subprocess.Popen([sys.executable, "-m", "tui_trainer", "--no-ui", "--model", spec,
                             "--epochs", "1", "--batch-size", "8", "--data-dir", str(data_dir),
                             "--out", "runs"], cwd=folder, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                            env=child_env())
    out, err = finish(proc, timeout=300)
    return proc.returncode, out, err


def line_of(text: str, code: str) -> int:
    """The 1-based line of `code` in the program `text`."""
    return text.splitlines().index(code) + 1


@pytest.mark.process
def test_a_net_of_the_wrong_output_shape_names_the_learners_call_and_batch(small_data_dir,
                                                                            tmp_path):
    rc, _, err = run_program(tmp_path, small_data_dir, CONCISE_B1)
    call = line_of(CONCISE_B1, "d2l.train_ch3(net, train_iter, test_iter, loss, 2, trainer)")
    assert rc == 1
    assert err.strip().splitlines() == [
        f"prog.py, line {call}: train_ch3: net returned (10, 1) for a batch of 10 images; it "
        f"must return (10, 10), a score or probability per class {HINT}"]


@pytest.mark.process
def test_images_that_reach_a_matrix_product_unflattened_say_so_with_the_learners_batch(
        small_data_dir, tmp_path):
    rc, _, err = run_program(tmp_path, small_data_dir, MLP_4_2)
    line = line_of(MLP_4_2, "    H = relu(X@W1 + b1)")
    assert rc == 1
    assert err.strip().splitlines() == [
        f"prog.py, line {line}, in net: RuntimeError: mat1 and mat2 shapes cannot be multiplied "
        "(280x28 and 784x256); the images come as (10, 1, 28, 28): flatten them first "
        f"(X.reshape((-1, 784)) or nn.Flatten()) {HINT}"]


@pytest.mark.process
def test_a_weight_without_requires_grad_is_warned_then_named_by_sgd(small_data_dir, tmp_path):
    program = SCRATCH.replace("size=(784, 10), requires_grad=True)", "size=(784, 10))")
    rc, _, err = run_program(tmp_path, small_data_dir, program)
    line = line_of(program, "    return d2l.sgd([W, b], lr, batch_size)")
    assert rc == 1
    assert err.strip().splitlines() == [
        "d2l: W (784, 10): read by the net but created without requires_grad=True, so never "
        "trained (create it with requires_grad=True)",
        f"prog.py, line {line}, in updater: sgd: params[0], of shape (784, 10), has no "
        f"gradient: it was created without requires_grad=True {HINT}"]


@pytest.mark.process
def test_a_loss_that_becomes_nan_says_lower_lr_in_the_scripts_words(small_data_dir, tmp_path):
    program = SCRATCH.replace("lr = 0.1", "lr = 1e30")
    rc, out, err = run_program(tmp_path, small_data_dir, program)
    call = line_of(program, "d2l.train_ch3(net, train_iter, test_iter, cross_entropy, 2, updater)")
    assert rc == 1
    (line,) = err.strip().splitlines()
    assert line.startswith(f"prog.py, line {call}: FloatingPointError: loss became ")
    assert line.endswith(f"training stopped (lower lr in your script: it is 1e+30) {HINT}")
    assert "--lr" not in line and "checkpoint" not in line   # no CLI words, no run directory


@pytest.mark.process
def test_the_learner_still_catches_what_they_catch_and_debug_shows_everything(small_data_dir,
                                                                           tmp_path):
    program = CONCISE_B1.replace(
        "d2l.train_ch3(net, train_iter, test_iter, loss, 2, trainer)",
        "try:\n    d2l.train_ch3(net, train_iter, test_iter, loss, 2, trainer)\n"
        "except Exception as exc:\n    print('CAUGHT', type(exc).__name__)\n")
    rc, out, err = run_program(tmp_path, small_data_dir, program)
    assert (rc, out.strip(), err.strip()) == (0, "CAUGHT SmtuiError", "")
    rc, _, err = run_program(tmp_path, small_data_dir, CONCISE_B1, SMTUI_DEBUG="1")
    assert rc == 1 and "Traceback (most recent call last)" in err and "usercode.py" in err


@pytest.mark.process
def test_a_mistake_in_a_thread_is_one_line_too(small_data_dir, tmp_path):
    program = CONCISE_B1.replace(
        "d2l.train_ch3(net, train_iter, test_iter, loss, 2, trainer)",
        "import threading\n"
        "t = threading.Thread(target=d2l.train_ch3, name='trainer',\n"
        "                     args=(net, train_iter, test_iter, loss, 2, trainer))\n"
        "t.start(); t.join()\n")
    rc, _, err = run_program(tmp_path, small_data_dir, program)
    (line,) = err.strip().splitlines()
    assert "train_ch3: net returned (10, 1)" in line and line.endswith("(in thread trainer)")


# ---------------------------------------------------------------- the pieces, in process
def test_learner_files_are_neither_smtuis_nor_installed_packages(tmp_path):
    assert mistakes.is_learner_file(str(tmp_path / "prog.py"))
    assert not mistakes.is_learner_file(mistakes.__file__)
    assert not mistakes.is_learner_file(torch.__file__)
    assert not mistakes.is_learner_file(textwrap.__file__)
    assert not mistakes.is_learner_file("<string>")


def test_never_trained_names_frozen_weights_and_those_no_optimizer_holds():
    W = torch.zeros(784, 10)
    b = torch.zeros(10, requires_grad=True)

    def net(X):
        return X.reshape(-1, 784) @ W + b
    assert never_trained(FunctionNet(net, [b]), None).startswith("W (784, 10): read by the net")
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    assert never_trained(module, torch.optim.SGD(module.parameters(), lr=0.1)) is None
    text = never_trained(module, torch.optim.SGD([module[1].bias], lr=0.1))
    assert text.startswith("1.weight (10, 784): not among the optimizer's parameters")
    module[1].weight.requires_grad_(False)
    assert never_trained(module, None).startswith("1.weight (10, 784): read by the net")


@pytest.mark.parametrize("stdin, stdout, stderr, live", [
    (True, True, True, True), (True, True, False, False), (True, False, True, False),
    (False, True, True, False)], ids=["terminal", "2>file", "pipe", "stdin not a tty"])
def test_the_live_app_only_when_every_standard_stream_is_a_terminal(monkeypatch, stdin, stdout,
                                                                     stderr, live):
    from tui_trainer.learner import script

    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty
    monkeypatch.delenv("SMTUI_NO_UI", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, tty in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
        monkeypatch.setattr(sys, name, Stream(tty))
    assert script._live() is live


@pytest.mark.process
def test_a_model_files_weight_without_requires_grad_is_warned_before_training(small_data_dir,
                                                                             tmp_path):
    """`--model` with the book's W created without requires_grad trains only b: said before the
    first epoch (it ended in "training finished", test acc 0.128, and no word)."""
    (tmp_path / "my_net.py").write_text(textwrap.dedent("""
        import torch
        W = torch.normal(0, 0.01, size=(784, 10))
        b = torch.zeros(10, requires_grad=True)
        def net(X):
            return torch.matmul(X.reshape((-1, 784)), W) + b
    """))
    rc, out, _ = train_model_file(tmp_path, small_data_dir, "my_net.py", merged=True)
    assert rc == 0, out
    warning = ("smtui: warning: W (784, 10): read by the net but created without "
               "requires_grad=True, so never trained")
    assert warning in out and out.index(warning) < out.index("epoch 1/1"), out


@pytest.mark.process
@pytest.mark.parametrize("where", ["import", "check", "net"])
def test_a_model_files_sys_exit_is_a_failed_run_not_a_success(small_data_dir, tmp_path, where):
    """sys.exit(0) in a --model file, at import, in its net's first call (the check before
    training) or later: exit 0 and no word (and at import no run directory); now one line
    naming the file and line, exit 1."""
    body = {"import": "import sys\nsys.exit(0)\n",
            "check": "def bad(X):\n    import sys; sys.exit(0)\n    return net(X)\n",
            "net": "calls = [0]\ndef bad(X):\n    calls[0] += 1\n    if calls[0] > 3:\n"
                   "        import sys; sys.exit(0)\n    return net(X)\n"}[where]
    (tmp_path / "my_net.py").write_text(textwrap.dedent("""
        import torch
        W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
        b = torch.zeros(10, requires_grad=True)
        def net(X):
            return torch.matmul(X.reshape((-1, 784)), W) + b
    """) + body)
    spec = "my_net.py" if where == "import" else "my_net.py:bad"
    rc, _, err = train_model_file(tmp_path, small_data_dir, spec)
    assert rc == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("smtui: error: my_net.py, line ") and \
        "your code called sys.exit(0): the run stopped there" in last, err


@pytest.mark.process
def test_a_model_files_threads_and_helpers_are_its_own(small_data_dir, tmp_path):
    """A helper module beside the file imports (as under `python my_net.py`); a thread it
    starts and never ends no longer keeps a finished run's process alive: one line, exit 0."""
    (tmp_path / "helpers_of_mine.py").write_text("SIDE = 784\n")
    (tmp_path / "my_net.py").write_text(textwrap.dedent("""
        import threading, time, torch
        from helpers_of_mine import SIDE
        W = torch.normal(0, 0.01, size=(SIDE, 10), requires_grad=True)
        b = torch.zeros(10, requires_grad=True)
        def net(X):
            return torch.matmul(X.reshape((-1, SIDE)), W) + b
        threading.Thread(target=lambda: time.sleep(3600), name="forever").start()
    """))
    rc, out, err = train_model_file(tmp_path, small_data_dir, "my_net.py")
    assert rc == 0, err
    assert "epoch 1/1" in out
    assert err.strip().splitlines()[-1] == ("smtui: 1 thread(s) still running (forever), "
                                            "started by your code: exiting without them")
