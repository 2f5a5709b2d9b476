"""How many ops one batch of smtui's step dispatches, beside a hand-written batch of the book's
model (`hand_batch_ops` below): each op is a kernel launch on a GPU and a few microseconds of
dispatch on a CPU, while the arithmetic of a batch of the book's model is smaller than either.
torch's dispatcher sees the same ops on any device, so this is checked on the CPU."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tui_trainer.core.config import TrainConfig
from tui_trainer.loop.train import SingleLoop, prepare

VIEWS = {"slice", "t", "view", "unsqueeze", "reshape", "_reshape_alias", "expand", "squeeze",
         "select", "as_strided", "alias", "detach"}


class Ops(TorchDispatchMode):
    """The aten ops dispatched inside the block, views apart (they launch nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name not in VIEWS:
            self.names.append(name)
        return func(*args, **(kwargs or {}))


def hand_batch_ops() -> list[str]:
    """A hand-written batch with the book's semantics, as short as it gets: gather, forward,
    softmax minus one-hot, the update."""
    X, y = torch.rand(600, 784), torch.randint(0, 10, (600,))
    W, b, onehot, perm = torch.zeros(10, 784), torch.zeros(10), torch.eye(10), torch.randperm(600)
    with Ops() as ops:
        j = perm[0:256]
        xb, yb = X[j], y[j]
        p = torch.softmax(torch.addmm(b, xb, W.t()), 1)
        p -= onehot[yb]
        W.sub_(p.t() @ xb, alpha=0.1 / len(yb))
        b.sub_(p.sum(0), alpha=0.1 / len(yb))
    return ops.names


def smtui_batch_ops(data_dir, **kw) -> list[str]:
    """One batch of a run's epoch as the skeleton drives it: the loader's batch and the step
    (the loss and accuracy are settled later, in bulk, for many batches at once)."""
    session = prepare(TrainConfig(data_dir=str(data_dir), batch_size=16, **kw), create_run=False)
    loop = SingleLoop(session)
    loop.begin_epoch()
    batches = iter(session.train_iter)
    X, y = next(batches)
    loop.step(X, y, 0)                        # the first batch warms up what it allocates
    with Ops() as ops:
        X, y = next(batches)
        loop.step(X, y, 1)
    return ops.names


def test_a_batch_of_smtuis_step_dispatches_no_more_ops_than_the_hand_loop(small_data_dir):
    hand = hand_batch_ops()
    assert len(hand) == 10, hand
    for model in ("scratch", "concise"):
        ours = smtui_batch_ops(small_data_dir, model=model)
        assert len(ours) <= len(hand), (model, ours)
        assert "addmm" in ours and "_softmax" in ours       # it trained: forward and softmax
    # the book's path (autograd) for contrast: the count is what the written-out step saves
    book = smtui_batch_ops(small_data_dir, gradient="autograd")
    assert len(book) > 2 * len(hand), book
