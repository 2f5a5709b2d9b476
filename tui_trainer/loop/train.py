"""The single run: the book's `train_epoch`, a run's `Session`, `prepare` and `fit`.

`fit` trains one model, behind the TUI, `--no-ui`, a learner's own model (`--model FILE.py`) and
the drop-in `d2l.train_ch3`. Its batch arithmetic (`SingleLoop`) is the book's step (or the
same update written out, fastpath.py) and its record one `lifecycle.RunLife`; the life between
batches (pause, stop, checks, reports, endings) is the run loop's (run_loop.py), which the sweep
shares. The front of `prepare` is prepare.py's, its resume checks resume.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.config import TrainConfig, absolute_paths, is_model_file
from ..core import data as data_mod
from ..core.errors import SmtuiError
from ..core.events import BatchEnd, Control, EpochEnd, Listener, RunEnded
from .device import random_untouched, reporting_intervals
from .fastpath import linear_step
from .prepare import open_front, refuse_invalid
from .lifecycle import RunLife, checkpoint_state, divergence_message, open_run
from ..core.metrics import Accumulator, correct_count
from ..core.models import Model, build_model, class_templates
from .thread_probe import training_probe
from .replay import Chunks, chunkable
from .resume import check_data, model_digest, read_resume, restore, resumed_record
from ..store.rundir import RunDir
from .run_loop import Loop, NonFiniteLoss, run_loop
from ..core.updaters import build_updater, current_lr, scheduled_lr, set_lr


def book_step(net, loss, updater, X: torch.Tensor, y: torch.Tensor):
    """The book's update on one batch; returns (y_hat, per-example losses). A torch optimizer
    gets `l.mean().backward()` and `step()`; the book's own updater gets `l.sum().backward()`
    and `updater(batch_size)`."""
    y_hat = net(X)
    l = loss(y_hat, y)
    if isinstance(updater, torch.optim.Optimizer):
        updater.zero_grad()
        l.mean().backward()
        updater.step()
    else:
        l.sum().backward()
        updater(X.shape[0])
    return y_hat, l


def train_epoch(net, train_iter, loss, updater) -> tuple[float, float]:
    """The book's `train_epoch_ch3`: one pass over `train_iter`, returns (loss, acc) per example."""
    if isinstance(net, torch.nn.Module):
        net.train()
    metric = Accumulator(3)  # loss sum, correct, examples
    for X, y in train_iter:
        y_hat, l = book_step(net, loss, updater, X, y)
        metric.add(float(l.detach().sum()), float(correct_count(y_hat.detach(), y)), y.numel())
    return metric[0] / metric[2], metric[1] / metric[2]


@dataclass
class Session:
    """Everything a run needs, built from a config: data, model, updater, loaders, RNG, run dir."""

    config: TrainConfig
    data: data_mod.FashionMNIST
    device: torch.device
    model: Model
    updater: Any
    train_iter: Any
    test_iter: Any
    generator: torch.Generator
    run: RunDir | None
    epoch: int = 0                     # completed epochs
    batch: int = 0                     # batches done in the current epoch (after a mid-epoch stop)
    epoch_rng_state: torch.Tensor | None = None   # shuffling RNG at the start of that epoch
    partial: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    partial_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    trained_by: str | None = None      # a learner's script: the book's function it called

    def checkpoint_state(self) -> dict[str, Any]:
        """This point of the run in the one checkpoint format (`lifecycle.checkpoint_state`)."""
        optimizer = getattr(self.updater, "state_dict", None)   # a learner's function has none
        return checkpoint_state(
            config=self.config.to_dict(), model=self.model.net.state_dict(),
            optimizer=optimizer() if optimizer else {}, epoch=self.epoch, batch=self.batch,
            rng=(self.epoch_rng_state if self.epoch_rng_state is not None
                 else self.generator.get_state()),
            partial=self.partial, partial_seconds=self.partial_seconds, history=self.history,
            dataset=self.data.name, num_train=len(self.data.train_labels))


def prepare(config: TrainConfig, *, data: data_mod.FashionMNIST | None = None,
            resume: str | None = None, create_run: bool = True) -> Session:
    """Validate the config, read the data, build the model, and open or create the run dir.

    Everything that can refuse the run is checked before the run directory is touched: a
    refused resume leaves its files as they were. The run directory is locked for this process.
    """
    refuse_invalid(config)
    config = absolute_paths(config)
    state, changed = read_resume(resume, config) if resume else (None, {})
    front = open_front(config, data)
    if state is not None and resume is not None:
        check_data(state, resume, front.data)
    own_updater = None
    if is_model_file(config.model):
        model, own_updater = _own_model(config, front.test_iter, front.device)
    else:
        side = config.resize or 28
        model = build_model(config.model, config.softmax, num_inputs=side * side)
        model.net.to(front.device)
    updater = own_updater or build_updater(config.optimizer, model.net.parameters(), config.lr,
                                           config.weight_decay)
    session = Session(config, front.data, front.device, model, updater, front.train_iter,
                      front.test_iter, front.generator, run=None)
    extra: dict[str, Any] = {"dataset_used": front.data.name, "data_source": front.data.source,
             "device_used": str(front.device)}   # what --device auto chose, for the viewer
    if is_model_file(config.model):   # the file it trained, to know it again on --resume
        extra["model_sha256"] = model_digest(config.model)
    if state is not None and resume is not None:
        restore(session, state, resume, own_updater is not None)
        run = RunDir.open(resume)
        extra["resumed"] = resumed_record(run, session, changed)
        session.run = open_run(run, config.to_dict(), config.epochs, epoch=session.epoch,
                               before=lambda: run.truncate_metrics(session.epoch), **extra)
    elif create_run:
        session.run = open_run(RunDir.create(config.out, config.run_name), config.to_dict(),
                               config.epochs, **extra)
    return session


def _own_model(config: TrainConfig, test_iter, device: torch.device):
    """A learner's model file as (Model, their updater or None), checked on the first test
    images before anything is trained."""
    from . import usercode

    code = usercode.load_file(config.model)
    code.net.to(device)
    where = code.path.name if code.path is not None else config.model
    with random_untouched(device):   # the check draws nothing the run's seed meant for training
        X, y = next(iter(test_iter))
        model = usercode.own_model(code, X.to(device), y.to(device), where)
    if code.updater is not None and config.schedule != "constant" and \
            not isinstance(code.updater, torch.optim.Optimizer):
        raise SmtuiError(f"--schedule {config.schedule}: {where}'s updater is a "
                         "function, whose learning rate smtui cannot set; use --schedule "
                         "constant, or a torch optimizer as trainer", exit_code=2)
    return model, code.updater


def divergence_hint(cfg: TrainConfig, script_lr: float | None | bool = False) -> str:
    """What to change when this config's loss became inf or nan, in the words of what started
    the run: the CLI's options, or a learner's script (`script_lr`: the rate its updater steps
    with, None where it cannot be seen)."""
    if script_lr is not False:
        return f"lower lr in your script: it is {script_lr:g}" if script_lr else \
            "lower the learning rate your updater steps with, in your script"
    if cfg.model == "scratch" and cfg.softmax == "naive":
        return f"use --softmax stable or a lower --lr than {cfg.lr:g}"
    return "lower --lr"


class SingleLoop(Loop):
    """One model's batch arithmetic and record, for the run loop (`run_loop.run_loop`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.run = session.run
        self.run_dirs = []
        self.eval_model = session.model
        self.life = RunLife(session.run, session.config.epochs)
        cfg = session.config
        self.num_batches = len(session.train_iter)
        self.total_batches = self.num_batches * cfg.epochs
        self.scheduled = cfg.schedule != "constant"
        # The book's update written out where it applies (fastpath.py); the book's backward else.
        self.fast = linear_step(session.model, session.updater, len(session.data.train_labels),
                                cfg.batch_size) if cfg.gradient == "analytic" else None
        self.metric = Accumulator(3)   # the epoch's loss sum, correct, examples
        # The epoch in chunks where the step and the loader allow (replay.py): CUDA graphs
        # replayed on a GPU, the same steps eagerly on a CPU.
        self.replay = None
        if self.fast is not None and chunkable(self.fast, session.train_iter, session.device):
            every = reporting_intervals(self.num_batches, session.device.type)[0]
            self.replay = Chunks(self.fast, self.step, session.train_iter, every,
                                 graphs=session.device.type == "cuda",
                                 scheduled=self.scheduled)

    def probe(self):
        s = self.session
        return training_probe(s.model, s.config, s.device)

    def prefer_fewer(self, control: Control) -> bool:
        # A learner's own net beside the app's drawing keeps one thread unless two train
        # faster: its step is Python's, a second thread gains it nothing (0.19 s an epoch of
        # the book's code with one or two, in a pipe) while the drawing needs that core (live:
        # 0.24 s with two, 0.20 s with one). smtui's own step gains from two, also in the app.
        return control.beside_ui and self.session.model.kind == "own"

    def begin(self) -> None:
        self.life.status("running", self.session.epoch)

    def begin_epoch(self) -> tuple[int, int]:
        s = self.session
        if s.batch == 0:
            s.epoch_rng_state = s.generator.get_state()
        else:   # resuming mid-epoch: replay the same permutation and skip the batches done
            s.generator.set_state(s.epoch_rng_state)
        self.metric = Accumulator(3)
        self.metric.add(*s.partial)
        if self.fast is not None:
            self.fast.begin_epoch(s.batch * s.config.batch_size if self.replay else 0)
        if isinstance(s.model.net, torch.nn.Module):
            s.model.net.train()
        return s.batch, int(s.partial[2])

    def lr_at(self, epoch_index: int, batch_index: int) -> float:
        """The schedule's lr at a batch of the run."""
        cfg = self.session.config
        return scheduled_lr(cfg.lr, cfg.schedule, (epoch_index * self.num_batches + batch_index)
                            / self.total_batches)

    def step(self, X: torch.Tensor, y: torch.Tensor, index: int) -> torch.Tensor | None:
        s = self.session
        if self.scheduled:
            set_lr(s.updater, self.lr_at(s.epoch, index))
        if self.fast is not None:
            self.fast(X, y)                 # its loss and accuracy: at `settle`
            return None
        y_hat, l = book_step(s.model.net, s.model.loss, s.updater, X, y)
        l_sum = l.detach().sum()
        self.metric.add(l_sum, correct_count(y_hat.detach(), y), y.numel())
        return l_sum

    def chunks(self, start: int, every: int, say):
        if self.replay is None or every != self.replay.every:
            return None
        return self.replay.epoch(start, say)

    def settle(self, losses: list[torch.Tensor | None]) -> list[list[float]]:
        if self.fast is None:
            return super().settle(losses)
        sums, correct, examples = self.fast.settle()
        for value in sums:   # batch by batch, as a step that summed its own would
            self.metric.add(value, 0, 0)
        self.metric.add(0.0, correct, examples)
        return [[value] for value in sums]

    def running(self) -> tuple[int, float, float]:
        m = self.metric
        sums = m.data[:2]
        if all(torch.is_tensor(v) for v in sums):   # on the device: one read-back, not two
            loss_sum, correct = torch.stack([v.double() for v in sums]).tolist()
        else:
            loss_sum, correct = m[0], m[1]
        return int(m[2]), loss_sum / m[2], correct / m[2]

    def report(self, event: BatchEnd) -> None:
        self.life.progress(self.session.epoch, event)

    def beat(self) -> None:
        self.life.beat()

    def _keep_partial(self) -> None:
        m = self.metric
        self.session.partial = [m[0], m[1], m[2]]

    def save(self, seconds: float) -> str:
        s = self.session
        if s.run is None:
            return "no run directory: nothing to save"
        state = s.checkpoint_state()
        m = self.metric
        state["partial"], state["partial_seconds"] = [m[0], m[1], m[2]], seconds
        self.life.checkpoint(state)
        return (f"checkpoint saved at epoch {s.epoch + 1}, batch {s.batch}: "
                f"{s.run.checkpoint_path}")

    def end_epoch(self, probs, seconds: float, machine: dict[str, float]) -> EpochEnd:
        s = self.session
        epoch = s.epoch + 1
        _, train_loss, train_acc = self.running()
        labels = s.data.test_labels
        test_acc = float((probs.argmax(dim=1) == labels).float().mean())
        # The lr the epoch's last batch stepped with: under a schedule, computed, since a run
        # resumed after that batch has not stepped since (its updater holds the next).
        lr = self.lr_at(s.epoch, self.num_batches - 1) if self.scheduled \
            else current_lr(s.updater)
        event = EpochEnd(epoch, train_loss, train_acc, test_acc, seconds, lr, probs,
                         class_templates(s.model.net), machine)
        s.epoch, s.batch = epoch, 0
        s.partial, s.partial_seconds = [0.0, 0.0, 0.0], 0.0
        s.epoch_rng_state = None
        s.history.append(event.metrics())
        self.life.epoch_end(event.metrics(), s.checkpoint_state(), probs, labels)
        return event

    def _checkpoint_path(self, kept: bool) -> str | None:
        return str(self.session.run.checkpoint_path) if kept else None

    def finished(self) -> RunEnded:
        s = self.session
        return RunEnded("finished", s.epoch, "training finished",
                        self._checkpoint_path(s.run is not None))

    def stopped(self, where: str) -> RunEnded:
        s = self.session
        self._keep_partial()
        self.life.checkpoint(s.checkpoint_state())
        saved = s.run is not None
        return RunEnded("stopped", s.epoch,
                        f"stopped {where}" + ("; checkpoint saved" if saved else ""),
                        self._checkpoint_path(saved))

    def diverged(self, exc: NonFiniteLoss) -> RunEnded:
        s = self.session
        kept = s.run.checkpoint_path.exists() if s.run is not None else None
        return RunEnded("diverged", s.epoch,
                        divergence_message(exc.value, s.epoch, exc.batch,
                                           self._hint(), kept),
                        self._checkpoint_path(bool(kept)))

    def _hint(self) -> str:
        s = self.session
        if s.trained_by is None:
            return divergence_hint(s.config)
        from .usercode import updater_lr
        return divergence_hint(s.config, updater_lr(s.updater))

    def fail(self, exc: BaseException) -> BaseException:
        return self.life.fail(exc, self.session.model.explain)

    def close(self, ended: RunEnded, reason: str | None) -> None:
        try:
            self.life.end(ended.status, self.session.epoch, ended.message, reason)
        finally:
            self.life.release()


def fit(session: Session, listener: Listener, control: Control | None = None) -> RunEnded:
    """Train for the remaining epochs of `session.config`, reporting events to `listener`.

    Returns the final `RunEnded` (also sent to the listener): see `run_loop.run_loop` for the
    run's life and its four endings."""
    return run_loop(SingleLoop(session), listener, control)
