"""train_epoch against hand-computed values; fit's events, run directory, stop, divergence,
resume."""

import json
import math

import pytest
import torch

from tests.support.runs import deterministic
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.errors import SmtuiError
from tui_trainer.core.events import BatchEnd, Control, EpochEnd, Message, RunEnded, RunStarted
from tui_trainer.core.models import build_model
from tui_trainer.store.checkpoint import load_checkpoint
from tui_trainer.core.metrics import predict_ch3, quality_check
from tui_trainer.loop.train import fit, prepare, train_epoch
from tui_trainer.core.updaters import BookSGD


def test_train_epoch_first_step_hand_computed():
    # With W = 0 and b = 0 every class has probability 1/10: loss log(10), argmax class 0.
    model = build_model("scratch", "naive")
    with torch.no_grad():
        model.net.W.zero_()
    X = torch.rand(20, 1, 28, 28)
    y = torch.tensor([0, 0, 0, 0, 0] + [3] * 15)
    loss, acc = train_epoch(model.net, [(X, y)], model.loss, BookSGD(model.net.parameters(), 0.1))
    assert loss == pytest.approx(math.log(10), rel=1e-6)
    assert acc == pytest.approx(5 / 20)
    # The book's update: b -= lr * sum(p - onehot) / n; for class 3: (20*0.1 - 15) / 20 = -0.65.
    assert model.net.b[3].item() == pytest.approx(-0.1 * (-0.65), rel=1e-5)


def test_train_epoch_torch_optimizer_gets_mean():
    torch.manual_seed(0)
    a, b = build_model("concise"), build_model("concise")
    b.net.load_state_dict(a.net.state_dict())
    X, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    train_epoch(a.net, [(X, y)], a.loss, torch.optim.SGD(a.net.parameters(), lr=0.1))
    train_epoch(b.net, [(X, y)], b.loss, BookSGD(b.net.parameters(), 0.1))
    for pa, pb in zip(a.net.parameters(), b.net.parameters()):
        assert torch.allclose(pa, pb, atol=1e-7)


def _config(small_data_dir, tmp_path, **kw):
    """A small CPU run. Its threads are fixed: with auto, the governor may take one away
    mid-run while parallel tests share the CPU, and a sum over another count of threads
    differs in its last bits (a resumed run then missed the uninterrupted one's weights by
    1e-10, once in a fresh clone's run)."""
    base = dict(data_dir=str(small_data_dir), out=str(tmp_path / "runs"), batch_size=16,
                epochs=3, lr=0.5, device="cpu", threads="1")
    return TrainConfig(**{**base, **kw})


def test_fit_events_and_run_directory(small_data_dir, tmp_path):
    events = []
    session = prepare(_config(small_data_dir, tmp_path))
    ended = fit(session, events.append)
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunEnded
    assert ended.status == "finished" and ended.epoch == 3
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    batches = [e for e in events if isinstance(e, BatchEnd) and e.epoch == 1]
    assert [b.batch for b in batches] == [1, 2, 3, 4] and batches[-1].examples == 60
    assert epochs[-1].test_probs.shape == (20, 10)
    assert epochs[-1].test_acc > 0.5  # the bands are learnable
    run = session.run
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["test_acc"] == pytest.approx(epochs[-1].test_acc)
    assert (
        run.csv_path.read_text().splitlines()[0] == "epoch,train_loss,train_acc,test_acc,seconds,lr"
    )
    config = json.loads(run.config_path.read_text())
    assert config["dataset_used"] == "full" and config["lr"] == 0.5
    state = load_checkpoint(run.path)
    assert state["epoch"] == 3 and state["config"]["model"] == "scratch"
    assert run.read_status()["state"] == "finished"


def test_subset_fallback_is_announced_and_recorded(tmp_path, monkeypatch):
    from tui_trainer.core import data as data_mod
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "nowhere")
    events = []
    session = prepare(TrainConfig(out=str(tmp_path / "runs"), epochs=1, device="cpu"))
    fit(session, events.append)
    assert any(isinstance(e, Message) and "embedded Fashion-MNIST subset" in e.text for e in events)
    assert json.loads(session.run.config_path.read_text())["dataset_used"] == "subset"


def test_stop_saves_checkpoint_at_that_batch(small_data_dir, tmp_path):
    control = Control()

    def listener(e):
        if isinstance(e, BatchEnd) and e.epoch == 2 and e.batch == 2:
            control.request_stop()

    session = prepare(_config(small_data_dir, tmp_path))
    ended = fit(session, listener, control)
    assert ended.status == "stopped" and "epoch 2, batch 2" in ended.message
    state = load_checkpoint(ended.checkpoint)
    assert (state["epoch"], state["batch"]) == (1, 2)
    assert len(session.run.read_metrics()) == 1


def test_naive_softmax_with_large_lr_diverges_cleanly(small_data_dir, tmp_path):
    events = []
    cfg = _config(small_data_dir, tmp_path, softmax="naive", lr=1e4, epochs=2)
    session = prepare(cfg)
    ended = fit(session, events.append)
    assert ended.status == "diverged"
    assert "use --softmax stable" in ended.message and "at epoch 1, batch" in ended.message
    assert not session.run.checkpoint_path.exists()  # no bad weights saved
    assert session.run.read_status()["state"] == "diverged"


def test_resume_gives_the_same_weights_and_metrics(small_data_dir, tmp_path):
    full = prepare(_config(small_data_dir, tmp_path / "a", epochs=3))
    fit(full, lambda e: None)

    control = Control()

    def stopper(e):
        if isinstance(e, BatchEnd) and e.epoch == 2 and e.batch == 3:
            control.request_stop()

    part = prepare(_config(small_data_dir, tmp_path / "b", epochs=3))
    assert fit(part, stopper, control).status == "stopped"
    resumed = prepare(_config(small_data_dir, tmp_path / "b", epochs=3), resume=str(part.run.path))
    assert (resumed.epoch, resumed.batch) == (1, 3)
    assert fit(resumed, lambda e: None).status == "finished"
    for pa, pb in zip(full.model.net.parameters(), resumed.model.net.parameters()):
        assert torch.equal(pa, pb)
    assert deterministic(full.run.read_metrics()) == deterministic(resumed.run.read_metrics())


def test_resume_refuses_another_model(small_data_dir, tmp_path):
    session = prepare(_config(small_data_dir, tmp_path, epochs=1))
    fit(session, lambda e: None)
    with pytest.raises(SmtuiError, match="trained with model='scratch'"):
        prepare(_config(small_data_dir, tmp_path, model="mlp"), resume=str(session.run.path))


def test_bad_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(SmtuiError, match="not a readable smtui checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(SmtuiError, match="not an smtui checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(SmtuiError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_batch_size_larger_than_data(small_data_dir, tmp_path):
    with pytest.raises(SmtuiError, match="larger than the 60 training images"):
        prepare(_config(small_data_dir, tmp_path, batch_size=61))


def test_quality_check_and_predict_ch3():
    assert quality_check(0.45, 0.84, 0.83) == []
    assert len(quality_check(0.6, 0.6, 1.2)) == 3
    probs = torch.tensor([[0.9] + [0.0] * 9, [0.0] * 9 + [1.0]])
    assert predict_ch3(probs, torch.tensor([0, 3]), n=2) == [("t-shirt", "t-shirt"),
                                                             ("dress", "ankle boot")]
