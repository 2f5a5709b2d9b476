"""The learning-rate sweep: K stacked models equal K single runs, and each stands alone after.

Parity is checked where training is stable. At a learning rate past that (0.5 for the book's
model on this data) a single run is itself chaotic: changing its lr by one part in 10^7 moves
its weights by 0.15 within an epoch, so no float tolerance holds there, for any implementation.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch
from tests.support.idx import write_small_idx
from tests.support.procs import child_env, finish

from tui_trainer.core import data as data_mod
from tui_trainer.store.catalog import runs_in
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import BatchEnd, SweepEpoch
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.core.config import parse_lrs
from tui_trainer.core.models import StackedNet
from tui_trainer.loop.sweep import fit_sweep, prepare_sweep
from tui_trainer.loop.train import fit, prepare

from tests.support.runs import run_cli, status_of
from tests.support.waits import wait_until


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=200, n_test=50)
    return data_mod.load_fashion_mnist(str(folder), "auto")


def config(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(**{"out": str(tmp_path / "runs"), "batch_size": 32, "epochs": 3,
                          "device": "cpu", "threads": "1", **kw})


def single(data, cfg: TrainConfig):
    session = prepare(cfg, data=data, create_run=False)
    ended = fit(session, lambda e: None)
    return session, ended


def assert_same_as_single(data, cfg, member, atol=2e-5):
    session, ended = single(data, cfg)
    assert member.status == ended.status
    assert len(member.history) == len(session.history) > 0
    for mine, theirs in zip(member.history, session.history):
        for key in ("train_loss", "train_acc", "test_acc", "lr"):
            assert mine[key] == pytest.approx(theirs[key], abs=atol), (cfg.lr, key)
    saved = load_checkpoint(member.run.path)["model"]
    for name, tensor in session.model.net.state_dict().items():
        torch.testing.assert_close(saved[name], tensor, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("kw, lrs", [
    ({"model": "scratch"}, [0.03, 0.1, 0.3]),                                    # the book's
    ({"model": "scratch", "softmax": "naive"}, [0.05, 0.2]),
    ({"model": "concise", "optimizer": "torch-sgd", "weight_decay": 1e-3,
      "schedule": "cosine"}, [0.05, 0.1, 0.2]),
    ({"model": "concise", "optimizer": "adam"}, [0.001, 0.003, 0.01]),
    ({"model": "mlp", "optimizer": "adam", "schedule": "cosine"}, [0.0005, 0.001, 0.002]),
])
def test_each_model_of_a_sweep_equals_its_own_single_run(data, tmp_path, kw, lrs):
    cfg = config(tmp_path, **kw)
    session = prepare_sweep(cfg, lrs, data=data)
    ended = fit_sweep(session, lambda e: None)
    assert ended.status == "finished"
    for member in session.members:
        assert json.loads((member.run.path / "config.json").read_text())["lr"] == member.lr
        assert status_of(member.run.path)["state"] == "finished"
        assert_same_as_single(data, cfg.replace(lr=member.lr), member)


def test_every_model_starts_from_the_seeds_weights(tmp_path):
    torch.manual_seed(5)
    from tui_trainer.core.models import build_model
    template = build_model("mlp")
    net = StackedNet(template.net, 4)
    for k in range(4):
        for mine, theirs in zip(net.unstack(k), template.net.parameters()):
            assert torch.equal(mine, theirs.detach())
    X = torch.rand(3, 1, 28, 28)
    out = net(X)
    assert out.shape == (3, 4, 10)
    for k in range(4):
        torch.testing.assert_close(out[:, k], template.net(X))


@pytest.mark.parametrize("model", ["scratch", "concise"])
@pytest.mark.parametrize("mean", [False, True])
def test_hand_written_gradients_equal_autograds(model, mean):
    from tui_trainer.core.models import build_model
    torch.manual_seed(3)
    net = StackedNet(build_model(model).net, 3)
    with torch.no_grad():   # three different models, as after some training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    X, y = torch.rand(17, 1, 28, 28), torch.randint(0, 10, (17,))
    out, loss = net.step_grads(X, y, mean)
    mine = [p.grad.clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = None
    out_auto = net(X)
    loss_auto = net.loss(out_auto, y)
    (loss_auto.mean(0) if mean else loss_auto.sum(0)).sum().backward()
    torch.testing.assert_close(out, out_auto)
    torch.testing.assert_close(loss, loss_auto)
    for g, p in zip(mine, net.parameters()):
        torch.testing.assert_close(g, p.grad)
        assert g.abs().max() > 0


def test_the_naive_and_mlp_models_leave_their_gradients_to_autograd():
    from tui_trainer.core.models import build_model
    X, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    for model, softmax in (("scratch", "naive"), ("mlp", "stable")):
        net = StackedNet(build_model(model, softmax).net, 2)
        assert net.step_grads(X, y, False) is None


def test_a_diverging_lr_stops_only_its_own_model(data, tmp_path):
    cfg = config(tmp_path, softmax="naive")
    events = []
    session = prepare_sweep(cfg, [0.1, 1000.0], data=data)
    ended = fit_sweep(session, events.append)
    good, bad = session.members
    assert ended.status == "finished" and good.status == "finished"
    assert bad.status == "diverged" and not bad.history
    assert_same_as_single(data, cfg.replace(lr=0.1), good)
    # The diverged model's record is its single run's: the same message, no checkpoint.
    alone = prepare(cfg.replace(lr=1000.0, out=str(tmp_path / "alone")), data=data)
    theirs = fit(alone, lambda e: None)
    assert theirs.status == "diverged"
    assert status_of(bad.run.path)["message"] == status_of(alone.run.path)["message"]
    assert not (bad.run.path / "checkpoint.pt").exists()
    rows = [e.rows for e in events if isinstance(e, SweepEpoch)]
    assert len(rows) == cfg.epochs and all(r[1] is None and r[0] for r in rows)


def test_a_stopped_sweep_resumes_model_by_model(data, tmp_path):
    """Stopped mid-epoch, each model's run directory continues alone to the same end as an
    uninterrupted single run: weights, Adam's moments and the shuffling state were saved."""
    cfg = config(tmp_path, model="concise", optimizer="adam")
    session = prepare_sweep(cfg, [0.002, 0.01], data=data)

    def stop_mid_epoch(event):
        if isinstance(event, BatchEnd) and event.epoch == 2 and event.batch == 3:
            control_.request_stop()
    from tui_trainer.core.events import Control
    control_ = Control()
    ended = fit_sweep(session, stop_mid_epoch, control_)
    assert ended.status == "stopped"
    for member in session.members:
        status = status_of(member.run.path)
        assert status["state"] == "stopped"
        assert status["resume"] == f"smtui --no-ui --resume {member.run.path}"
        state = load_checkpoint(member.run.path)
        assert (state["epoch"], state["batch"]) == (1, 3)
        resumed = prepare(cfg.replace(lr=member.lr), data=data, resume=str(member.run.path))
        assert fit(resumed, lambda e: None).status == "finished"
        member.history, member.status = resumed.history, "finished"
        assert_same_as_single(data, cfg.replace(lr=member.lr), member)


@pytest.mark.parametrize("text, message", [
    ("0.1", "two or more"), ("0.1,abc", "not a number: 'abc'"), ("0.1,0.1", "twice"),
    (",".join(["0.1"] * 70), "at most 64"),
])
def test_parse_lrs_refuses_bad_lists(text, message):
    with pytest.raises(ValueError, match=message):
        parse_lrs(text)


@pytest.mark.parametrize("args, message", [
    (["--lr", "0.1"], "--lr: give two or more learning rates"),
    (["--lr", "0.1,-1"], "--lr must be a positive finite number"),
    (["--lr", "0.1,1", "--epochs", "0"], "--epochs must be a positive whole number"),
])
def test_sweep_bad_input_is_one_line(capsys, tmp_path, args, message):
    code, out, err = run_cli(capsys, "sweep", "--out", str(tmp_path / "runs"), *args)
    assert code == 2
    assert err.startswith("smtui: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_list_of_rates_for_a_single_run_points_to_the_sweep(capsys, tmp_path):
    code, out, err = run_cli(capsys, "--no-ui", "--lr", "0.1, 1", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.splitlines()) == 1
    assert "--lr: one rate, not a list" in err and "smtui sweep --lr 0.1,1" in err
    assert not (tmp_path / "r").exists()


def test_sweep_command_prints_a_column_per_lr_and_writes_a_run_each(capsys, tmp_path):
    folder = tmp_path / "idx"
    write_small_idx(folder)
    code, out, err = run_cli(capsys, "sweep", "--lr", "0.03,0.3,3000", "--softmax", "naive",
                             "--data-dir", str(folder), "--out", str(tmp_path / "runs"),
                             "--epochs", "2", "--batch-size", "20")
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("epoch"))
    assert header.split()[1:4] == ["0.03", "0.3", "3000"]
    epoch_lines = [line for line in out.splitlines() if line.lstrip().startswith(("1/2", "2/2"))]
    assert len(epoch_lines) == 2 and all(line.split()[3] == "-" for line in epoch_lines)
    [folder] = (tmp_path / "runs").iterdir()           # the sweep's runs in one folder
    runs = sorted(folder.iterdir())
    assert [json.loads((r / "config.json").read_text())["lr"] for r in runs] == [0.03, 0.3, 3000]
    assert [status_of(r)["state"] for r in runs] == ["finished", "finished", "diverged"]
    assert f"smtui: compare them with: smtui compare {folder}\n" in out and "smtui view" in out
    assert runs_in(tmp_path / "runs") == runs         # where runs and the Runs tab look
    assert "test accuracy by learning rate" in (runs[0] / "log.txt").read_text()
    assert "lr 3000" in err   # the divergence is told when it happens


@pytest.mark.process
def test_sigterm_stops_a_sweep_with_a_checkpoint_in_every_run(tmp_path):
    folder = tmp_path / "idx"
    write_small_idx(folder, n_train=3000, n_test=100)
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "tui_trainer", "sweep", "--lr", "0.01,0.1",
                             "--data-dir", str(folder), "--out", str(out), "--batch-size", "2",
                             "--epochs", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env())
    wait_until(lambda: out.is_dir() and len(list(out.glob("*/*/metrics.jsonl"))) == 2,
               what="a first epoch")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = finish(proc)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    for run_dir in runs_in(out):
        status = status_of(run_dir)
        assert status["state"] == "stopped" and "SIGTERM" in status["reason"]
        assert load_checkpoint(run_dir)["epoch"] >= 1
    assert "resume one with: smtui --no-ui --resume" in stdout


def test_a_sweep_with_auto_threads_has_the_governor_of_a_single_run(data, tmp_path, monkeypatch):
    from tui_trainer.loop import cpu_threads as cpu
    started, start = [], cpu.ThreadGovernor.start

    def recorded_start(self):
        start(self)
        self.probe()          # the probe steps a copy: the sweep's weights stay untouched
        started.append(self.budget)
    monkeypatch.setattr(cpu.ThreadGovernor, "start", recorded_start)
    # The plan of a plain `smtui` start, whatever earlier tests configured in this process; and
    # a count other than the budget or one would read as the caller's own choice (no governor).
    for name in ("OMP_NUM_THREADS", cpu.PLAN_VARIABLE):   # recorded, then put back afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    cpu.configure("auto")
    before = torch.get_num_threads()
    torch.set_num_threads(cpu.current_plan().threads)
    try:
        events = []
        session = prepare_sweep(config(tmp_path, threads="auto"), [0.03, 0.1], data=data)
        assert fit_sweep(session, events.append).status == "finished"
        assert started == [cpu.current_plan().threads]
        assert {e.threads for e in events if isinstance(e, BatchEnd)} <= {started[0], 1}
        fixed = prepare_sweep(config(tmp_path, threads=str(started[0])), [0.03, 0.1], data=data)
        fit_sweep(fixed, lambda e: None)
        for mine, theirs in zip(session.members, fixed.members):   # the probe changed nothing
            assert mine.history[-1]["train_loss"] == pytest.approx(
                theirs.history[-1]["train_loss"])
        started.clear()
        session = prepare_sweep(config(tmp_path, threads="1"), [0.03, 0.1], data=data)
        fit_sweep(session, lambda e: None)
        assert started == []                     # a fixed count: no governor
    finally:
        torch.set_num_threads(before)
