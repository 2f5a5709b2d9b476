"""A learning-rate sweep in one pass: K copies of one model, stacked, trained on the same batches.

The book's standing advice is to try other hyper-parameters; trying K learning rates one after
another costs K runs, each reading the data again. Softmax regression's weights for K learning
rates fit side by side in one matrix, so a batch costs one (B, 784) x (784, 10K) product instead
of K products with 10 columns, a shape BLAS handles poorly. The MLP's first layers stack the same
way (784 x 256K) and its second layers become one batched product.

Each model keeps the book's semantics: the seed's initial weights (drawn once, copied K times),
the same shuffled batches, its own learning rate, loss and update, so its losses, accuracies and
weights equal those of its own single run to float tolerance (tests check it). Each model gets a
run directory in the single-run format (config with its own lr, metrics, checkpoints, status),
so it can be viewed, compared and resumed alone. A model whose loss becomes inf or nan stops
as its single run would (status `diverged`, its last good checkpoint kept) and the others go on.

The stacked models (`models.StackedNet`) and their updater (`updaters.StackedUpdater`) live
beside the single ones; this module is the sweep's batch arithmetic and record (`SweepLoop`),
which the run loop shared with the single run (run_loop.py) drives. Every stacked tensor is laid
out (K, *one model's block), so model k's part is `t.view(K, -1)[k]` and the K blocks sit one
after another in memory, which is also the (10K, 784) matrix the linear models' product wants.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..core import data as data_mod
from ..core.config import MAX_MODELS, TrainConfig, absolute_paths, sweep_refusal
from ..core.errors import SmtuiError
from ..core.events import BatchEnd, Control, Listener, Message, RunEnded, SweepEpoch
from .prepare import open_front, refuse_invalid
from .lifecycle import RunLife, checkpoint_state, divergence_message, open_run
from ..core.models import Model, StackedNet, build_model, class_templates
from .thread_probe import stacked_probe
from ..store.rundir import RunDir
from .run_loop import Loop, run_loop
from .train import divergence_hint
from ..core.updaters import StackedUpdater, scheduled_lr


@dataclass
class Member:
    """One learning rate of the sweep: its config, run directory and record."""

    lr: float
    config: TrainConfig
    run: RunDir | None
    status: str = "running"        # running, diverged, finished, stopped
    message: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    lr_now: float = 0.0            # the lr of its latest step (the schedule moves it)
    life: RunLife | None = None    # its run directory's record, once the sweep trains

    @property
    def alive(self) -> bool:
        return self.status == "running"


@dataclass
class SweepSession:
    """Everything a sweep needs: data, the stacked models, loaders, RNG and the K members."""

    config: TrainConfig
    data: data_mod.FashionMNIST
    device: torch.device
    template: Model
    net: StackedNet
    updater: StackedUpdater
    train_iter: Any
    test_iter: Any
    generator: torch.Generator
    members: list[Member]
    epoch: int = 0
    batch: int = 0
    epoch_rng_state: torch.Tensor | None = None
    partial: list[torch.Tensor] | None = None     # (K,) loss sums, (K,) correct, examples
    partial_seconds: float = 0.0

    @property
    def lrs(self) -> list[float]:
        return [m.lr for m in self.members]

    def member_state(self, k: int) -> dict[str, Any]:
        """Model k's checkpoint, in the single run's format (`train.Session.checkpoint_state`)."""
        m = self.members[k]
        net = self.template.net
        names = [name for name, _ in net.named_parameters()]
        weights = [t.cpu() for t in self.net.unstack(k)]
        partial = [0.0, 0.0, 0.0]
        if self.partial is not None and self.batch:
            partial = [float(self.partial[0][k]), float(self.partial[1][k]), float(self.partial[2])]
        return checkpoint_state(
            config=m.config.to_dict(), model=dict(zip(names, weights)),
            optimizer=self.updater.single_state(k, self.net, list(net.parameters()),
                                                m.lr_now or m.lr),
            epoch=self.epoch, batch=self.batch,
            rng=(self.epoch_rng_state if self.epoch_rng_state is not None
                 else self.generator.get_state()),
            partial=partial, partial_seconds=self.partial_seconds if self.batch else 0.0,
            history=m.history, dataset=self.data.name, num_train=len(self.data.train_labels))


def prepare_sweep(config: TrainConfig, lrs: list[float], *,
                  data: data_mod.FashionMNIST | None = None,
                  create_runs: bool = True) -> SweepSession:
    """Validate, read the data, build the K stacked models and one run directory per model."""
    refusal = sweep_refusal(config)
    if refusal:
        raise SmtuiError(refusal, exit_code=2)
    if not 2 <= len(lrs) <= MAX_MODELS or len(set(lrs)) != len(lrs):
        raise SmtuiError(f"--lr: give 2 to {MAX_MODELS} different learning rates", exit_code=2)
    for lr in lrs:
        refuse_invalid(config.replace(lr=lr))
    config = absolute_paths(config)
    front = open_front(config, data)   # seeds torch: every model starts from the single run's draw
    side = config.resize or 28
    template = build_model(config.model, config.softmax, num_inputs=side * side)
    net = StackedNet(template.net, len(lrs)).to(front.device)
    updater = StackedUpdater(config.optimizer, list(net.parameters()), len(lrs),
                             config.weight_decay)
    members = [Member(lr, config.replace(lr=lr), None, lr_now=lr) for lr in lrs]
    session = SweepSession(config, front.data, front.device, template, net, updater,
                           front.train_iter, front.test_iter, front.generator, members)
    if not create_runs:
        return session
    try:
        # The sweep's runs in a folder of their own: `smtui compare FOLDER` names all of them
        # (64 at most) and nothing else; `smtui runs` and the Runs tab look inside it.
        folder = RunDir.create(config.out, f"{config.run_name}-sweep").path
        runs = [RunDir.create(folder, f"{config.run_name}-lr{m.lr:g}") for m in members]
        for m, run in zip(members, runs):
            m.run = run
        names = [run.path.name for run in runs]
        for m, run in zip(members, runs):
            open_run(run, m.config.to_dict(), config.epochs, device_used=str(front.device),
                     dataset_used=front.data.name,
                     data_source=front.data.source, sweep={"lrs": lrs, "runs": names})
    except BaseException as exc:
        for m in members:
            error = RunLife(m.run, config.epochs).fail(exc)
        raise error from None
    return session


class RecordWriter:
    """The members' files, written in order by one background thread.

    A sweep writes K run directories each epoch (metrics, checkpoint, analysis, status, each
    fsynced): done inline that is a fifth of a sweep's time on a small CPU, spent mostly waiting
    for the disk. One worker keeps the order of every write (a model's status never goes back to
    `running` after `diverged`); a failed write (a full disk) is raised in the training thread at
    the next submit or at `drain`.
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor
        # Serial from its first tensor operation: a second OpenMP team beside the training
        # thread's would make both sleep between kernels (see ui/threads.py).
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="smtui-sweep-writer",
                                       initializer=torch.set_num_threads, initargs=(1,))
        self.futures: list = []

    def submit(self, fn, *args, **kw) -> None:
        # Writes that are done are dropped (their result is None); one that failed raises here.
        self.futures = [f for f in self.futures if not f.done() or f.result()]
        self.futures.append(self.pool.submit(fn, *args, **kw))

    def drain(self) -> None:
        """Wait for every write submitted so far; raise the first failure."""
        futures, self.futures = self.futures, []
        for f in futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class SweepLoop(Loop):
    """The K models' batch arithmetic and record, for the run loop (`run_loop.run_loop`).

    Each model's run directory lives and ends through its own `lifecycle.RunLife`, written by
    one background writer. A model whose loss becomes inf or nan ends alone (`non_finite`)."""

    def __init__(self, session: SweepSession, listener: Listener) -> None:
        self.session = session
        self.listener = listener
        members = session.members
        self.run = members[0].run
        self.run_dirs = [str(m.run.path) for m in members if m.run is not None]
        net = session.net
        self.eval_model = Model(net, net.loss, net.probs, "stacked")
        self.writer = RecordWriter()
        for m in members:
            m.life = RunLife(m.run, session.config.epochs, self.writer.submit)
        self.num_batches = len(session.train_iter)
        self.total = self.num_batches * session.config.epochs
        self.seen = 0

    def probe(self):
        s = self.session
        return stacked_probe(s.net, s.updater.mean_loss, s.config, s.device)

    def alive(self) -> bool:
        return any(m.alive for m in self.session.members)

    def begin(self) -> None:
        for m in self.session.members:
            m.life.status("running", 0)

    def begin_epoch(self) -> tuple[int, int]:
        s = self.session
        K = len(s.members)
        s.epoch_rng_state = s.generator.get_state()
        s.partial = [torch.zeros(K, device=s.device),
                     torch.zeros(K, dtype=torch.int64, device=s.device), 0]
        s.batch, self.seen = 0, 0
        s.net.train()
        return 0, 0

    def step(self, X: torch.Tensor, y: torch.Tensor, index: int) -> torch.Tensor:
        s = self.session
        net, members, cfg = s.net, s.members, s.config
        progress = (s.epoch * self.num_batches + index) / self.total
        lrs = [scheduled_lr(m.lr, cfg.schedule, progress) for m in members]
        alive = [m.alive for m in members]
        by_hand = net.step_grads(X, y, s.updater.mean_loss)
        if by_hand is not None:
            out, l = by_hand
        else:
            out = net(X)
            l = net.loss(out, y)
            (l.mean(0) if s.updater.mean_loss else l.sum(0)).sum().backward()
        s.updater.step(lrs, X.shape[0], alive)
        l_sum = l.detach().sum(0)
        s.partial[0] += l_sum
        # max's indices: argmax's (the first maximum), three times faster on (B, K, 10)
        s.partial[1] += (out.detach().max(-1).indices == y.unsqueeze(1)).sum(0)
        self.seen += y.numel()
        s.partial[2] = self.seen
        for m, lr, a in zip(members, lrs, alive):
            if a:
                m.lr_now = lr
        return l_sum

    def non_finite(self, batch: int, k: int, value: float) -> None:
        s = self.session
        m = s.members[k]
        if not m.alive:
            return
        kept = m.run is not None and bool(m.history)   # a checkpoint is saved at each epoch end
        m.status = "diverged"
        m.message = divergence_message(value, s.epoch, batch, divergence_hint(m.config), kept)
        s.net.zero_model(k)
        s.updater.reset_model(k)
        m.life.end("diverged", len(m.history), m.message, resumable=kept)
        self.listener(Message(f"lr {m.lr:g}: {m.message}; the other models go on", "warning"))

    def _sums(self) -> tuple[list[float], list[int], list[int]]:
        """The epoch's loss sums and correct counts per model (one read-back), and the live."""
        s = self.session
        live = [k for k, m in enumerate(s.members) if m.alive]
        return s.partial[0].tolist(), s.partial[1].tolist(), live

    def running(self) -> tuple[int, float, float]:
        losses, hits, live = self._last = self._sums()   # `report` follows: one read-back
        seen = self.seen
        return (seen, sum(losses[k] for k in live) / len(live) / seen,
                sum(hits[k] for k in live) / len(live) / seen)

    def report(self, event: BatchEnd) -> None:
        losses, hits, live = self._last
        for k in live:   # each member's own running loss and accuracy
            self.session.members[k].life.progress(self.session.epoch, replace(
                event, loss=losses[k] / self.seen, acc=hits[k] / self.seen))

    def beat(self) -> None:
        for m in self.session.members:   # those still training: never one that has ended
            if m.alive and m.life is not None:
                m.life.beat()

    def save(self, seconds: float) -> str:
        s = self.session
        s.partial_seconds = seconds
        count = _save_all(s)
        self.writer.drain()
        return (f"checkpoints saved at epoch {s.epoch + 1}, batch {s.batch}: {count} run "
                "directories")

    def end_epoch(self, probs, seconds: float, machine: dict[str, float]) -> SweepEpoch:
        s = self.session
        epoch = s.epoch + 1
        labels = s.data.test_labels
        losses, hits, _ = self._sums()
        seen = self.seen
        rows: list[dict[str, float] | None] = []
        s.epoch, s.batch, s.partial, s.partial_seconds = epoch, 0, None, 0.0
        s.epoch_rng_state = None
        for k, m in enumerate(s.members):
            if not m.alive:
                rows.append(None)
                continue
            test_acc = float((probs[:, k].argmax(dim=1) == labels).float().mean())
            row = {"epoch": epoch, "train_loss": losses[k] / seen, "train_acc": hits[k] / seen,
                   "test_acc": test_acc, "seconds": round(seconds, 4), "lr": m.lr_now}
            m.history.append(row)
            rows.append(row)
            m.life.epoch_end(row, s.member_state(k), probs[:, k], labels)
        accuracies = {k: r["test_acc"] for k, r in enumerate(rows) if r}
        best = max(accuracies, key=accuracies.__getitem__)
        return SweepEpoch(epoch, seconds, s.lrs, rows, best, probs[:, best].clone(),
                          _templates(s, best))

    def finished(self) -> RunEnded:
        s = self.session
        finished = [m for m in s.members if m.alive]
        for m in finished:
            m.status, m.message = "finished", "training finished"
        if not finished:
            return RunEnded("diverged", s.epoch, "every learning rate diverged", None)
        b = max(finished, key=lambda m: m.history[-1]["test_acc"] if m.history else 0.0)
        acc = b.history[-1]["test_acc"] if b.history else float("nan")
        return RunEnded("finished", s.epoch,
                        f"sweep finished: best lr {b.lr:g} (test acc {acc:.4f})",
                        str(b.run.checkpoint_path) if b.run else None)

    def stopped(self, where: str) -> RunEnded:
        s = self.session
        _save_all(s)
        for m in s.members:
            if m.alive:
                m.status, m.message = "stopped", f"stopped {where}; checkpoint saved"
        return RunEnded("stopped", s.epoch, f"sweep stopped {where}; checkpoints saved", None)

    def diverged(self, exc) -> RunEnded:   # never raised: each model diverges alone
        raise exc

    def fail(self, exc: BaseException) -> BaseException:
        return _fail(self.session, exc, self.writer)

    def close(self, ended: RunEnded, reason: str | None) -> None:
        members = self.session.members
        try:
            for m in members:
                if m.status in ("finished", "stopped"):
                    m.life.end(m.status, len(m.history), m.message, reason,
                               resumable=m.status == "stopped")
            self.writer.drain()
        except BaseException as exc:
            raise _fail(self.session, exc, self.writer) from None
        finally:
            self.writer.close()
            for m in members:
                m.life.release()
        ended.run_dirs = [str(m.run.path) for m in members   # those with a checkpoint
                          if m.run is not None and (m.history or m.status == "stopped")]


def fit_sweep(
    session: SweepSession, listener: Listener, control: Control | None = None
) -> RunEnded:
    """Train every model for `config.epochs` epochs on the same batches, reporting to
    `listener`: BatchEnd for the models' mean progress, SweepEpoch after each epoch. The run's
    life between batches is the run loop's (`run_loop.run_loop`)."""
    return run_loop(SweepLoop(session, listener), listener, control)


def _save_all(session: SweepSession) -> int:
    """A checkpoint of this exact point for every live model; returns how many."""
    live = [(k, m.life) for k, m in enumerate(session.members)
            if m.alive and m.run is not None and m.life is not None]
    for k, life in live:
        life.checkpoint(session.member_state(k))
    return len(live)


def _templates(session: SweepSession, k: int):
    """Model k's class templates (for the Weights tab), through its single-model form."""
    net = session.template.net
    with torch.no_grad():
        for p, w in zip(net.parameters(), session.net.unstack(k)):
            p.copy_(w)
    return class_templates(net)


def _fail(session: SweepSession, exc: BaseException, writer: RecordWriter) -> BaseException:
    """Record the failure in every run directory, after the writes already asked for; returns
    the exception to raise (the user's own error where it is one: memory)."""
    try:
        writer.drain()
    except BaseException:
        pass   # the error being reported is the first one, or follows from it
    writer.close()
    error = exc
    for m in session.members:
        error = RunLife(m.run, session.config.epochs).fail(exc)
    return error
