"""The epoch in chunks (replay.py) against the loop that takes the loader's batches one by one:
the same numbers to the bit on the CPU, across stops and resumes; a failed CUDA graph capture
said once, the run unchanged; on a GPU, the replayed graphs against the eager steps."""

from __future__ import annotations

import pytest
import torch

from tests.support.runs import deterministic
from tui_trainer.loop import train as train_mod
from tui_trainer.core.config import TrainConfig
from tui_trainer.core.events import BatchEnd, Control, EpochEnd, Message
from tui_trainer.loop.train import SingleLoop, fit, prepare
from tui_trainer.loop.run_loop import run_loop

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture
def chunk_data(tmp_path):
    """126 batches of 8 (the last of 4): chunks of 3 on the CPU, the last one cut short."""
    from tests.support.idx import write_small_idx
    write_small_idx(tmp_path / "idx", n_train=1004, n_test=40)
    return tmp_path / "idx"


def trained(chunk_data, out, chunked: bool = True, graphs: bool | None = None,
            control: Control | None = None, resume: str | None = None, **kw):
    """(metrics rows, weights, events, loop) of a run, chunked or batch by batch."""
    config = TrainConfig(data_dir=str(chunk_data), out=str(out), batch_size=8, epochs=2,
                         threads="1", **kw)
    session = prepare(config, resume=resume)
    loop = SingleLoop(session)
    if not chunked:
        loop.replay = None
    elif graphs is not None:
        loop.replay.graphs_wanted = graphs
    events = []
    run_loop(loop, events.append, control)
    rows = [e.metrics() for e in events if isinstance(e, EpochEnd)]
    weights = [p.detach().clone().cpu() for p in session.model.net.parameters()]
    return rows, weights, events, loop


@pytest.mark.parametrize("kw", [dict(model="scratch"), dict(model="concise"),
                                dict(optimizer="torch-sgd", weight_decay=0.01),
                                dict(schedule="cosine", lr=0.3)],
                         ids=["scratch", "concise", "weight decay", "cosine schedule"])
def test_chunks_train_as_the_loader_batch_by_batch(chunk_data, tmp_path, kw):
    rows, weights, _, loop = trained(chunk_data, tmp_path / "a", **kw)
    assert loop.replay is not None and loop.replay.every > 1     # chunks were taken
    batch_rows, batch_weights, _, _ = trained(chunk_data, tmp_path / "b", chunked=False, **kw)
    assert deterministic(rows) == deterministic(batch_rows)
    assert all(torch.equal(a, b) for a, b in zip(weights, batch_weights))


def test_a_stop_between_chunks_resumes_to_the_same_run(chunk_data, tmp_path):
    """A stop falls between two chunks; the resumed run ends as the run never stopped."""
    whole_rows, whole_weights, _, _ = trained(chunk_data, tmp_path / "whole")
    control = Control()
    seen = []

    def stop_at_first_report(event) -> None:
        seen.append(event)
        if isinstance(event, BatchEnd) and event.epoch == 1:
            control.request_stop()

    config = TrainConfig(data_dir=str(chunk_data), out=str(tmp_path / "cut"), batch_size=8,
                         epochs=2, threads="1")
    session = prepare(config)
    loop = SingleLoop(session)
    ended = run_loop(loop, stop_at_first_report, control)
    assert ended.status == "stopped" and 0 < session.batch < loop.num_batches
    rows, weights, _, _ = trained(chunk_data, tmp_path / "cut", resume=str(session.run.path))
    assert deterministic(rows) == deterministic(whole_rows)
    assert all(torch.equal(a, b) for a, b in zip(weights, whole_weights))


def test_a_resume_off_a_chunks_edge_goes_on_to_the_same_run(chunk_data, tmp_path):
    """A run stopped after batch 7 (by the batch-by-batch loop; chunks are of 3) resumes in
    chunks: a first chunk of two batches, then aligned ones, to the uninterrupted run's end."""
    whole_rows, whole_weights, _, _ = trained(chunk_data, tmp_path / "whole")
    config = TrainConfig(data_dir=str(chunk_data), out=str(tmp_path / "cut"), batch_size=8,
                         epochs=2, threads="1")
    session = prepare(config)
    loop = SingleLoop(session)
    loop.replay = None
    control = Control()
    step = loop.step

    def stopping_step(X, y, index):
        if session.epoch == 0 and index == 6:
            control.request_stop()
        return step(X, y, index)
    loop.step = stopping_step
    assert run_loop(loop, lambda e: None, control).status == "stopped"
    assert (session.epoch, session.batch) == (0, 7)
    rows, weights, _, resumed = trained(chunk_data, tmp_path / "cut", resume=str(session.run.path))
    assert resumed.replay is not None and resumed.replay.every == 3
    assert deterministic(rows) == deterministic(whole_rows)
    assert all(torch.equal(a, b) for a, b in zip(weights, whole_weights))


def test_a_capture_that_fails_is_said_once_and_changes_nothing(chunk_data, tmp_path):
    """On a machine without CUDA every capture fails at its first CUDA call: the run says so
    once and trains on, eagerly, to the same numbers."""
    rows, weights, events, loop = trained(chunk_data, tmp_path / "a", graphs=True)
    said = [e.text for e in events if isinstance(e, Message) and "CUDA graphs" in e.text]
    assert len(said) == 1 and said[0].endswith("training with eager steps"), said
    assert not loop.replay.graphs_wanted and not loop.replay.graphs
    eager_rows, eager_weights, _, _ = trained(chunk_data, tmp_path / "b", graphs=False)
    assert deterministic(rows) == deterministic(eager_rows)
    assert all(torch.equal(a, b) for a, b in zip(weights, eager_weights))


def test_chunks_are_not_taken_where_the_loader_is_not_the_fast_one(chunk_data, tmp_path):
    for kw in (dict(resize=14), dict(gradient="autograd"), dict(model="mlp")):
        session = prepare(TrainConfig(data_dir=str(chunk_data), batch_size=8, **kw),
                          create_run=False)
        assert SingleLoop(session).replay is None, kw


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("model", ["scratch", "concise"])
def test_replayed_graphs_train_as_the_eager_steps(chunk_data, tmp_path, model):
    rows, weights, events, loop = trained(chunk_data, tmp_path / "a", device="cuda",
                                          model=model)
    assert loop.replay.graphs, [e for e in events if isinstance(e, Message)]   # replayed
    eager_rows, eager_weights, _, _ = trained(chunk_data, tmp_path / "b", device="cuda",
                                              model=model, graphs=False)
    for ours, theirs in zip(rows, eager_rows):
        for key in ("train_loss", "train_acc", "test_acc"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), key
    for ours, theirs in zip(weights, eager_weights):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.cuda
@needs_cuda
def test_fit_on_the_gpu_replays(chunk_data, tmp_path):
    session = prepare(TrainConfig(data_dir=str(chunk_data), out=str(tmp_path), batch_size=8,
                                  epochs=1, device="cuda"), create_run=False)
    assert fit(session, lambda e: None).status == "finished"
    assert train_mod.chunkable(SingleLoop(session).fast, session.train_iter, session.device)


def test_a_replay_is_checked_against_the_eager_steps(chunk_data, tmp_path):
    """`agrees` on the CPU, with stand-ins for a graph's replay: the eager steps themselves
    agree; a replay that steps at another rate does not; either way the weights and the step's
    bookkeeping are left as they were."""
    session = prepare(TrainConfig(data_dir=str(chunk_data), batch_size=8, threads="1"),
                      create_run=False)
    loop = SingleLoop(session)
    chunks, step = loop.replay, loop.fast
    step.begin_epoch()
    chunks.perm.copy_(chunks.loader.order())
    before = [t.clone() for t in (step.W, step.b)]

    def same():
        for i in range(0, 3):
            step(*chunks._batch(i))

    def faster():
        rate = session.updater.lr
        session.updater.lr = rate * 2
        try:
            same()
        finally:
            session.updater.lr = rate
    assert chunks.agrees(0, 3, same)
    assert not chunks.agrees(0, 3, faster)
    assert torch.equal(step.W, before[0]) and torch.equal(step.b, before[1])
    assert (step.filled, step.sizes) == (0, [])
