"""The learner's own code: the drop-in `tui_trainer.d2l` and `smtui --model FILE.py`.

The reference for faithfulness is the book's own `train_epoch_ch3` loop, written out here as the
book prints it: the learner's net trained through smtui must end with the same weights.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.support.learner import linear_learner
from tests.support.tmux import Tmux, tmux_only
from tests.support.waits import wait_until
from tests.support.procs import child_env, default_signals, finish
from tui_trainer import d2l
from tui_trainer.learner import script
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError
from tui_trainer.core.events import Control
from tui_trainer.store.rundir import RunDir
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.loop.train import fit, prepare

BOOK_NET = textwrap.dedent("""
    import torch
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)

    def softmax(X):
        X_exp = torch.exp(X)
        return X_exp / X_exp.sum(1, keepdim=True)

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

    def cross_entropy(y_hat, y):
        return - torch.log(y_hat[range(len(y_hat)), y])

    loss = cross_entropy
""")


@pytest.fixture
def d2l_data(small_data_dir, monkeypatch):
    """The drop-in reads the small IDX files the tests wrote."""
    monkeypatch.setenv("SMTUI_DATA_DIR", str(small_data_dir))   # each test's own folder
    return small_data_dir


# ---------------------------------------------------------------- the book's reference loop
class BookAccumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def book_accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def book_train_epoch_ch3(net, train_iter, loss, updater):
    if isinstance(net, torch.nn.Module):
        net.train()
    metric = BookAccumulator(3)
    for X, y in train_iter:
        y_hat = net(X)
        l = loss(y_hat, y)
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            l.sum().backward()
            updater(X.shape[0])
        metric.add(float(l.sum().detach()), book_accuracy(y_hat, y), y.numel())
    return metric[0] / metric[2], metric[1] / metric[2]


def scratch_objects():
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)

    def net(X):
        X_exp = torch.exp(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)
        return X_exp / X_exp.sum(1, keepdim=True)

    def cross_entropy(y_hat, y):
        return - torch.log(y_hat[range(len(y_hat)), y])

    def updater(batch_size):
        return d2l.sgd([W, b], 0.1, batch_size)
    return net, cross_entropy, updater, [W, b]


def concise_objects():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.normal_(net[1].weight, std=0.01)
    nn.init.zeros_(net[1].bias)
    return net, nn.CrossEntropyLoss(reduction="none"), torch.optim.SGD(net.parameters(), lr=0.1), \
        list(net.parameters())


@pytest.mark.parametrize("make", [scratch_objects, concise_objects], ids=["scratch", "concise"])
def test_train_ch3_equals_the_books_loop(d2l_data, make):
    """The book's chapter-3 code trained through smtui gives the losses, accuracies and weights
    of the book's own train_epoch_ch3 on the same batches."""
    results = []
    for through_smtui in (False, True):
        torch.manual_seed(0)
        net, loss, updater, params = make()
        train_iter, test_iter = d2l.load_data_fashion_mnist(16)
        if through_smtui:
            history = script.train_script(net, train_iter, test_iter, loss, 3, updater)
            rows = [(r["train_loss"], r["train_acc"], r["test_acc"]) for r in history]
        else:
            rows = []
            for _ in range(3):
                train_loss, train_acc = book_train_epoch_ch3(net, train_iter, loss, updater)
                rows.append((train_loss, train_acc, d2l.evaluate_accuracy(net, test_iter)))
        results.append((rows, [p.detach().clone() for p in params]))
    (book_rows, book_params), (our_rows, our_params) = results
    flat = [v for row in our_rows for v in row]
    assert flat == pytest.approx([v for row in book_rows for v in row], rel=1e-5)
    for ours, theirs in zip(our_params, book_params):
        torch.testing.assert_close(ours, theirs)
    assert book_rows[-1][0] < book_rows[0][0]   # it learned something: the test can fail


class BookDropoutNet(nn.Module):
    """4.6's net from scratch: its dropout draws from torch's global stream in a forward."""

    def __init__(self):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(784, 32), nn.Linear(32, 10)

    def forward(self, X):
        H = torch.relu(self.lin1(X.reshape((-1, 784))))
        if self.training:
            mask = (torch.rand(H.shape) > 0.5).float()
            H = mask * H / 0.5
        return self.lin2(H)


def test_a_seeded_script_draws_the_books_random_stream(d2l_data, monkeypatch):
    """With torch.manual_seed and plain DataLoaders (which draw a seed from torch's stream each
    time they are iterated) and a dropout net, the drop-in's train_ch3 consumes random numbers
    exactly as the book's: the same shuffles and masks, weights equal to the bit, and the
    stream after training the book's. Describing the test loader and checking the net on a
    batch drew three numbers before the first epoch."""
    from torch.utils import data as torch_data
    from tui_trainer.core.data import load_fashion_mnist

    fashion = load_fashion_mnist(str(d2l_data))
    as_float = lambda images: images.float().unsqueeze(1) / 255  # noqa: E731
    train_set = torch_data.TensorDataset(as_float(fashion.train_images), fashion.train_labels)
    test_set = torch_data.TensorDataset(as_float(fashion.test_images), fashion.test_labels)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # one count for both runs: sums to the bit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results = []
    try:
        for through_smtui in (False, True):
            torch.manual_seed(0)
            net = BookDropoutNet()
            loss = nn.CrossEntropyLoss(reduction="none")
            trainer = torch.optim.SGD(net.parameters(), lr=0.1)
            train_iter = torch_data.DataLoader(train_set, 16, shuffle=True)
            test_iter = torch_data.DataLoader(test_set, 16, shuffle=False)
            if through_smtui:
                script.train_script(net, train_iter, test_iter, loss, 2, trainer)
            else:
                for _ in range(2):
                    book_train_epoch_ch3(net, train_iter, loss, trainer)
                    d2l.evaluate_accuracy(net, test_iter)
            results.append(([p.detach().clone() for p in net.parameters()], torch.rand(4)))
    finally:
        torch.set_num_threads(threads)
    (book_params, book_after), (our_params, our_after) = results
    for ours, theirs in zip(our_params, book_params):
        assert torch.equal(ours, theirs)
    assert torch.equal(our_after, book_after)


def test_the_thread_probe_draws_nothing_from_torchs_stream(small_data_dir):
    """The governor times a probe step between batches: a dropout net's forward there leaves
    torch's global stream as it found it."""
    from tui_trainer.core.models import Model
    from tui_trainer.loop.thread_probe import training_probe

    net = BookDropoutNet()
    for kind in ("own", "concise"):
        model = Model(net, lambda y_hat, y: nn.functional.cross_entropy(
            y_hat, y, reduction="none"), lambda out: out.softmax(1), kind)
        probe = training_probe(model, TrainConfig(batch_size=8), torch.device("cpu"))
        before = torch.get_rng_state()
        probe()
        assert torch.equal(torch.get_rng_state(), before), kind
    net.train()
    net(torch.zeros(2, 784))   # the check can fail: a forward outside the probe draws
    assert not torch.equal(torch.get_rng_state(), before)


def test_load_data_fashion_mnist_has_the_books_shapes(d2l_data):
    train_iter, test_iter = d2l.load_data_fashion_mnist(32)
    X, y = next(iter(test_iter))
    assert X.shape == (20, 1, 28, 28) and X.dtype == torch.float32
    assert y.dtype == torch.int64 and 0.0 <= float(X.min()) and float(X.max()) <= 1.0
    assert y.tolist() == [i % 10 for i in range(20)]          # the test split, in file order
    orders = [torch.cat([y for _, y in train_iter]).tolist() for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]   # reshuffled
    X, _ = next(iter(d2l.load_data_fashion_mnist(8, resize=14)[0]))
    assert X.shape == (8, 1, 14, 14)


def test_the_books_aliases_and_helpers():
    x = torch.arange(6.0)
    assert d2l.matmul is torch.matmul and d2l.exp is torch.exp and d2l.normal is torch.normal
    assert d2l.reshape(x, (2, 3)).shape == (2, 3)
    assert float(d2l.reduce_sum(x)) == 15.0
    assert int(d2l.argmax(d2l.reshape(x, (2, 3)), axis=1)[1]) == 2
    assert d2l.astype(x, torch.int64).dtype == torch.int64
    assert d2l.accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 1.0
    metric = d2l.Accumulator(2)
    metric.add(1, 2)
    metric.add(3, 4)
    assert (metric[0], metric[1]) == (4.0, 6.0)
    assert d2l.get_fashion_mnist_labels([0, 9]) == ["t-shirt", "ankle boot"]
    assert d2l.get_dataloader_workers() == 4


def test_the_books_asserts_say_which_threshold_failed(d2l_data, capsys):
    """A net that learns nothing (lr 0) fails the book's first assert: an AssertionError, as in
    the book, that names the threshold and by how much; uncaught, it is the one line the
    learner's script ends with, at their call of train_ch3."""
    torch.manual_seed(0)   # the weights drawn below, whatever ran before in this process
    net, loss, _, params = scratch_objects()
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    with pytest.raises(AssertionError) as info:
        d2l.train_ch3(net, train_iter, test_iter, loss, 1, lambda n: d2l.sgd(params, 0.0, n))
    found = re.fullmatch(r"the book's check failed: train_loss (\d\.\d{4}) is not below 0\.5 "
                         r"\(by (\d\.\d{4})\)", str(info.value))
    assert found, str(info.value)
    loss_value, by = float(found[1]), float(found[2])
    assert abs(loss_value - 2.30) < 0.05            # untrained: about ln 10
    assert abs(by - (loss_value - 0.5)) < 1e-3
    line = info.value.smtui_line
    assert line.startswith("test_own_code.py, line ") and ": AssertionError: the book's" in line
    assert capsys.readouterr().out.count("epoch 1/1") == 1   # without a terminal: a line an epoch


@pytest.mark.process
def test_under_python_O_the_books_asserts_are_gone_as_the_books_are(d2l_data, tmp_path):
    """`python -O` removes the book's assert statements: its train_ch3 returns whatever the
    numbers; the drop-in's raised AssertionError there."""
    program = tmp_path / "untrained.py"
    program.write_text(textwrap.dedent(f"""
        import os
        os.environ["SMTUI_DATA_DIR"] = {str(d2l_data)!r}
        import torch
        from tui_trainer import d2l
        W = torch.zeros((784, 10), requires_grad=True)
        def net(X):
            return torch.matmul(X.reshape((-1, 784)), W)
        train_iter, test_iter = d2l.load_data_fashion_mnist(16)
        loss = torch.nn.CrossEntropyLoss(reduction='none')
        d2l.train_ch3(net, train_iter, test_iter, loss, 1, lambda n: d2l.sgd([W], 0.0, n))
        print("RETURNED")
    """))
    plain = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                           timeout=300, env=child_env())
    assert "AssertionError" in plain.stderr and "RETURNED" not in plain.stdout   # it can fail
    optimised = subprocess.run([sys.executable, "-O", str(program)], capture_output=True,
                               text=True, timeout=300, env=child_env())
    assert optimised.returncode == 0 and "RETURNED" in optimised.stdout, optimised.stderr


@pytest.mark.parametrize("net, loss, updater, expected", [
    (lambda X: X.reshape(len(X), -1), None, lambda n: None, "net returned (16, 784)"),
    (None, lambda y_hat, y: torch.nn.functional.cross_entropy(y_hat, y), lambda n: None,
     "the loss returned () for a batch of 16"),
    (lambda X: torch.zeros(len(X), 10), lambda y_hat, y: -torch.log(y_hat[:, 0]),
     lambda n: None, "the loss is inf on the first images"),
    (None, None, 5, "the updater is a int"),
], ids=["output shape", "loss shape", "loss inf", "updater"])
def test_wrong_code_is_one_line_before_training(d2l_data, net, loss, updater, expected):
    scratch_net, scratch_loss, _, _ = scratch_objects()
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    with pytest.raises(SmtuiError) as info:
        script.train_script(net or scratch_net, train_iter, test_iter, loss or scratch_loss, 1,
                            updater)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_train_ch3_records_a_run_directory(d2l_data, tmp_path):
    net, loss, updater, params = scratch_objects()
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    history = script.train_script(net, train_iter, test_iter, loss, 2, updater,
                                  out=str(tmp_path / "runs"))
    (run_path,) = (tmp_path / "runs").iterdir()
    run = RunDir(run_path)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert run.read_metrics()[-1]["test_acc"] == pytest.approx(history[-1]["test_acc"])
    assert run.read_status()["state"] == "finished"
    config = run.read_config()
    assert config["trained_by"] == "d2l.train_ch3" and config["lr"] == 0.1
    state = load_checkpoint(run_path)
    torch.testing.assert_close(state["model"]["params.0"], params[0].detach())
    with pytest.raises(SmtuiError, match="trained by a script"):
        prepare(TrainConfig(model="x.py", out=str(tmp_path)), resume=str(run_path))


def test_animator_and_images_without_a_terminal(capsys):
    animator = d2l.Animator(xlabel="epoch", legend=["train loss", "test acc"])
    animator.add(1, (0.5, 0.7))
    animator.add(2, (0.4, 0.8))
    out = capsys.readouterr().out.splitlines()
    assert out == ["epoch 1: train loss 0.5000  test acc 0.7000",
                   "epoch 2: train loss 0.4000  test acc 0.8000"]
    d2l.show_images(torch.rand(4, 28, 28), 2, 2, titles=["a\nb", "c", "d", "e"])
    assert capsys.readouterr().out.splitlines() == ["a / b  c", "d  e"]


# ---------------------------------------------------------------- smtui --model FILE.py
def write_model(folder: Path, text: str, name: str = "my_model.py") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_model_file_trains_resumes_and_refuses_other_shapes(small_data_dir, tmp_path,
                                                            monkeypatch):
    path = write_model(tmp_path, BOOK_NET)
    config = TrainConfig(model=str(path), epochs=1, batch_size=16, data_dir=str(small_data_dir),
                         out=str(tmp_path / "runs"), threads="1")
    session = prepare(config)
    assert session.run.path.name.endswith("-my_model")
    ended = fit(session, lambda e: None, Control())
    assert ended.status == "finished"
    state = load_checkpoint(session.run.path)
    assert set(state["model"]) == {"params.0", "params.1"}
    assert state["model"]["params.0"].shape == (784, 10)
    resumed = prepare(config.replace(epochs=2), resume=str(session.run.path))
    torch.testing.assert_close(resumed.model.net.state_dict()["params.0"],
                               state["model"]["params.0"])
    fit(resumed, lambda e: None, Control())
    assert [r["epoch"] for r in RunDir(session.run.path).read_metrics()] == [1, 2]
    write_model(tmp_path, BOOK_NET.replace("b = torch.zeros(10, requires_grad=True)",
                                           "b = torch.zeros(10, requires_grad=True)\n"
                                           "c = torch.zeros(10, requires_grad=True)\n"
                                           "params = [W, b, c]"))
    monkeypatch.setenv("SMTUI_MODEL_CHANGED", "1")   # past the changed file: its shapes
    with pytest.raises(SmtuiError, match="does not fit this model: the checkpoint holds 2"):
        prepare(config.replace(epochs=3), resume=str(session.run.path))


def test_model_file_templates_and_probabilities(small_data_dir, tmp_path):
    """The book's net returns probabilities: shown as they are; its 784x10 W is the Weights
    tab's template."""
    from tui_trainer.core.events import EpochEnd
    path = write_model(tmp_path, BOOK_NET)
    config = TrainConfig(model=str(path), epochs=1, batch_size=16, data_dir=str(small_data_dir),
                         out=str(tmp_path / "runs"), threads="1")
    events = []
    fit(prepare(config), events.append, Control())
    (epoch,) = [e for e in events if isinstance(e, EpochEnd)]
    W, b = epoch.templates
    assert W.shape == (10, 784) and b.shape == (10,)
    torch.testing.assert_close(epoch.test_probs.sum(1), torch.ones(20))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "tui_trainer", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    out, err = finish(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.process
def test_an_error_in_the_learners_code_is_one_line_at_their_line(small_data_dir, tmp_path):
    """Raised at the third batch, inside the learner's file: one line naming their file, line,
    function and error, the run marked failed, exit 1, never an internal error; SMTUI_DEBUG=1,
    which the line names, shows the whole traceback."""
    path = write_model(tmp_path, BOOK_NET + textwrap.dedent("""
        calls = [0]
        def checked(X):
            calls[0] += 1
            if calls[0] > 3:
                raise ValueError("my bug")
            return net(X)
    """))
    line = path.read_text().splitlines().index('        raise ValueError("my bug")') + 1
    args = ("--no-ui", "--model", "my_model.py:checked", "--epochs", "1", "--batch-size", "8",
            "--data-dir", str(small_data_dir), "--out", "runs")
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"smtui: error: my_model.py, line {line}, in checked: ValueError: my bug "
        "(SMTUI_DEBUG=1 shows the whole traceback)"), r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    (run_path,) = (tmp_path / "runs").iterdir()
    status = json.loads((run_path / "status.json").read_text())
    assert status["state"] == "failed" and "my bug" in status["message"]
    shutil.rmtree(tmp_path / "runs")
    r = subprocess.run([sys.executable, "-m", "tui_trainer", *args], cwd=tmp_path, text=True,
                       capture_output=True, env={**child_env(), "SMTUI_DEBUG": "1"},
                       timeout=600)
    assert r.returncode == 1 and "Traceback" in r.stderr, r.stderr
    assert 'raise ValueError("my bug")' in r.stderr and "run_loop.py" in r.stderr


@pytest.mark.process
@pytest.mark.parametrize("text, expected", [
    ("import torch\n", "my_model.py defines no 'net'"),
    ("def net(X:\n", "my_model.py, line 1: SyntaxError"),
    ("import torch\ndef net(X):\n    return X\n", "must define params"),
], ids=["no net", "syntax", "no params"])
def test_a_file_that_cannot_be_used_is_one_line(tmp_path, small_data_dir, text, expected):
    write_model(tmp_path, text)
    r = run_cli("--no-ui", "--model", "my_model.py", "--batch-size", "8", "--data-dir",
                str(small_data_dir), cwd=tmp_path)
    assert r.returncode != 0 and expected in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.process
def test_a_sweep_of_a_model_file_says_why_not(tmp_path):
    write_model(tmp_path, BOOK_NET)
    r = run_cli("sweep", "--model", "my_model.py", "--lr", "0.1,0.2", cwd=tmp_path)
    assert r.returncode == 2 and "one rate per run" in r.stderr


# ---------------------------------------------------------------- a learner's program, run
def learner_program(folder: Path, data_dir: Path, batch_size: int, body: str,
                    out: str | None = None) -> Path:
    """A learner's script that trains its own linear net for 100,000 epochs with
    `d2l.train_ch3`; `body` places the call (`{train}`), e.g. inside a try."""
    train = ("d2l.train_ch3(net, train_iter, test_iter, loss, 100000, "
             f"lambda n: d2l.sgd([W, b], 0.1, n), out={out!r})")
    program = folder / "learner.py"
    program.write_text(linear_learner(f"d2l.load_data_fashion_mnist({batch_size})", data_dir)
                       + body.format(train=train))
    return program


# ---------------------------------------------------------------- live, in a real terminal
EPOCH_LINE = re.compile(r"epoch +(\d+)/(\d+) +train loss ([\d.]+) +train acc ([\d.]+) +"
                        r"test acc ([\d.]+)")


@pytest.mark.tmux
@tmux_only
@pytest.mark.parametrize("workers", [2, 4])
def test_the_books_dataloader_workers_train_live_to_the_pipes_numbers(d2l_data, tmp_path,
                                                                       workers):
    """The book's loader (a DataLoader of `workers` processes, 3.5's default is 4) forks its
    workers from smtui's training thread: live in the app they work as in a plain Python
    process (each exited 1 there, and the run ended "DataLoader worker exited unexpectedly"),
    and a seeded run gives the numbers the same program gives in a pipe."""
    program = tmp_path / "workers.py"
    program.write_text(linear_learner(
        f"d2l.load_data_fashion_mnist(16, num_workers={workers})", d2l_data, seed=True)
        + textwrap.dedent("""
        try:
            d2l.train_ch3(net, train_iter, test_iter, loss, 3, lambda n: d2l.sgd([W, b], 0.1, n))
        except AssertionError:   # the book's closing checks, on data this small
            pass
        print("LEARNER DONE")
    """))
    piped = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                           timeout=300, env=child_env())
    assert "LEARNER DONE" in piped.stdout, piped.stderr
    expected = EPOCH_LINE.findall(piped.stdout)
    assert len(expected) == 3, piped.stdout
    tmux = Tmux(f"cd {tmp_path} && {sys.executable} workers.py; sleep 60", 120, 40)
    try:
        tmux.wait_for("train_ch3 in workers.py", timeout=120)   # live: the app's title
        screen = tmux.wait_for("LEARNER DONE", "Error: ", "(SMTUI_DEBUG=1", timeout=240)
    finally:
        tmux.kill()
    assert "exited unexpectedly" not in screen, screen
    assert EPOCH_LINE.findall(screen) == expected, screen


@pytest.mark.tmux
@tmux_only
def test_train_ch3_live_in_tmux_stops_with_keyboard_interrupt(d2l_data, tmp_path):
    learner_program(tmp_path, d2l_data, 4, "try:\n    {train}\nexcept KeyboardInterrupt as exc:"
                    "\n    print('LEARNER CAUGHT', exc)\n")
    tmux = Tmux(f"cd {tmp_path} && {sys.executable} learner.py; sleep 60", 120, 40)
    try:
        tmux.wait_for("train_ch3 in learner.py", timeout=90)
        def epochs_shown() -> int:   # the status bar's "epoch N/100000": N - 1 are done
            found = re.search(r"epoch (\d+)/100000", tmux.screen())
            return int(found[1]) if found else 0
        wait_until(lambda: epochs_shown() >= 2, timeout=60, what="a finished epoch")
        tmux.keys("x")
        screen = tmux.wait_for("LEARNER CAUGHT", timeout=90)
        # mid-epoch ("at epoch 3, batch 41") or on a boundary ("at the end of epoch 3")
        assert re.search(r"LEARNER CAUGHT stopped at (the end of )?epoch \d+", screen), screen
        assert "/100000  train loss" in screen   # the summary stays in the scrollback
        assert "train_ch3 in" not in screen      # the app's screen is gone
    finally:
        tmux.kill()


def test_the_thread_probe_leaves_a_function_nets_weights_and_gradients(small_data_dir, tmp_path):
    """The governor times a step of a learner's net on the net itself (its weights are globals
    no copy can redirect): the weights and the gradients it finds are put back."""
    from tui_trainer.loop.thread_probe import training_probe
    path = write_model(tmp_path, BOOK_NET)
    config = TrainConfig(model=str(path), epochs=1, batch_size=16, data_dir=str(small_data_dir),
                         out=str(tmp_path / "runs"))
    session = prepare(config, create_run=False)
    params = list(session.model.net.parameters())
    grads = [torch.full_like(p, 0.5) for p in params]
    for p, g in zip(params, grads):
        p.grad = g
    before = [p.detach().clone() for p in params]
    training_probe(session.model, session.config, session.device)()
    assert all(p.grad is g for p, g in zip(params, grads))
    assert all(torch.equal(p.detach(), b) for p, b in zip(params, before))


@pytest.mark.process
def test_ctrl_c_in_a_pipe_stops_at_a_batch_and_raises_keyboard_interrupt(d2l_data, tmp_path):
    """Without a terminal, Ctrl+C asks smtui's loop to stop at the next batch (a checkpoint when
    `out=` records the run), then raises KeyboardInterrupt in the learner's script."""
    import signal
    program = learner_program(tmp_path, d2l_data, 2, "{train}\n",
                              out=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, str(program)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(),
                            preexec_fn=default_signals)
    assert proc.stdout.readline().startswith("epoch      1/100000")
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1].startswith("KeyboardInterrupt: stopped ")
    # As plain Python's Ctrl+C: the learner's frames alone (smtui's mistakes.py, d2l.py and
    # script.py stood between their line and the interrupt).
    assert "learner.py" in err and "tui_trainer" not in err, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"
    assert load_checkpoint(run_dir)["epoch"] >= 1   # epoch 1's end or the batch it stopped at


def test_the_viewer_draws_a_model_file_runs_curves_without_running_its_code(small_data_dir,
                                                                          tmp_path):
    """`smtui view` of a --model run: its curves, and one line saying why no predictions (the
    viewer never imports the learner's file)."""
    from tui_trainer.core.events import EpochEnd, Message
    from tui_trainer.store.watch import RunWatcher
    path = write_model(tmp_path, BOOK_NET)
    session = prepare(TrainConfig(model=str(path), epochs=1, batch_size=16, threads="1",
                                  data_dir=str(small_data_dir), out=str(tmp_path / "runs")))
    fit(session, lambda e: None)
    path.write_text("raise SystemExit('the viewer ran the learner\\'s file')\n")
    events = RunWatcher(session.run.path).poll() + RunWatcher(session.run.path).poll()
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 1]
    notes = [e.text for e in events if isinstance(e, Message)]
    assert any("predictions are not drawn for a run of" in text for text in notes), notes


def test_train_ch3_takes_iterators_it_did_not_make(d2l_data):
    """The book's own DataLoader (asked for with num_workers): train_ch3 reads the test images
    and labels from the iterator itself, and the accuracy it reports is the book's."""
    torch.manual_seed(0)
    net, loss, updater, _ = scratch_objects()
    train_iter, test_iter = d2l.load_data_fashion_mnist(16, num_workers=1)
    assert not hasattr(test_iter, "fashion")        # not smtui's loader
    history = script.train_script(net, train_iter, test_iter, loss, 1, updater)
    assert history[-1]["test_acc"] == pytest.approx(d2l.evaluate_accuracy(net, test_iter))


@pytest.mark.parametrize("model, beside_ui, prefer", [("own", True, 1), ("own", False, 2),
                                                      ("scratch", True, 2)])
def test_a_learners_net_in_the_app_keeps_one_thread_unless_two_are_faster(
        small_data_dir, tmp_path, monkeypatch, model, beside_ui, prefer):
    """Beside the app's drawing, a learner's Python-heavy net prefers one thread (two gained
    it nothing and cost the drawing its core); headless, and smtui's own step, the budget."""
    from tui_trainer.loop import cpu_threads as cpu

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv(cpu.PLAN_VARIABLE, "auto:2")     # an adaptive plan of two threads
    seen = []
    original = cpu.ThreadGovernor.__init__

    def spy(self, *args, **kw):
        original(self, *args, **kw)
        seen.append(self.prefer)
    monkeypatch.setattr(cpu.ThreadGovernor, "__init__", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        path = str(write_model(tmp_path, BOOK_NET)) if model == "own" else model
        session = prepare(TrainConfig(model=path, epochs=1, batch_size=16, threads="auto",
                                      data_dir=str(small_data_dir), out=str(tmp_path / "runs")))
        fit(session, lambda e: None, Control(beside_ui=beside_ui))
    finally:
        torch.set_num_threads(before)
    assert seen == [prefer]
