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
beside the single ones; this module is the sweep's loop. Every stacked tensor is laid out
(K, *one model's block), so model k's part is `t.view(K, -1)[k]` and the K blocks sit one after another in memory, which is also the (10K, 784) matrix the
linear models' product wants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from . import data as data_mod
from .config import MAX_MODELS, TrainConfig, sweep_refusal
from .errors import SmtuiError
from .events import BatchEnd, Control, Listener, Message, RunEnded, SweepEpoch
from .lifecycle import RunLife, announce, checkpoint_state, divergence_message, stop_point
from .models import Model, StackedNet, build_model, class_templates
from .runs import RunDir
from .train import (Stopped, divergence_hint, predict_probs, reporting_intervals,
                    probe_batch, resolve_device, thread_plan, training_clock)
from .updaters import StackedUpdater, scheduled_lr


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
                  data: data_mod.FashionMNIST | None = None, create_runs: bool = True) -> SweepSession:
    """Validate, read the data, build the K stacked models and one run directory per model."""
    refusal = sweep_refusal(config)
    if refusal:
        raise SmtuiError(refusal, exit_code=2)
    if not 2 <= len(lrs) <= MAX_MODELS or len(set(lrs)) != len(lrs):
        raise SmtuiError(f"--lr: give 2 to {MAX_MODELS} different learning rates", exit_code=2)
    for lr in lrs:
        errors = config.replace(lr=lr).validate()
        if errors:
            name, reason = next(iter(errors.items()))
            raise SmtuiError(f"--{name.replace('_', '-')} {reason}", exit_code=2)
    device = resolve_device(config.device)
    if data is None:
        data = data_mod.load_fashion_mnist(config.data_dir, config.dataset)
    if config.batch_size > len(data.train_labels):
        raise SmtuiError(f"--batch-size {config.batch_size} is larger than the "
                         f"{len(data.train_labels)} training images", exit_code=2)
    torch.manual_seed(config.seed)     # the single run's draw, so every model starts from it
    side = config.resize or 28
    template = build_model(config.model, config.softmax, num_inputs=side * side)
    net = StackedNet(template.net, len(lrs)).to(device)
    updater = StackedUpdater(config.optimizer, list(net.parameters()), len(lrs),
                             config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    train_iter, test_iter = data_mod.make_loaders(
        data, config.batch_size, loader=config.loader, resize=config.resize, device=device,
        generator=generator, num_workers=config.num_workers)
    members = [Member(lr, config.replace(lr=lr), None, lr_now=lr) for lr in lrs]
    session = SweepSession(config, data, device, template, net, updater, train_iter, test_iter,
                           generator, members)
    if not create_runs:
        return session
    try:
        for m in members:
            m.run = RunDir.create(config.out, f"{config.run_name}-lr{m.lr:g}")
            m.run.acquire_lock()
        names = [m.run.path.name for m in members]
        for m in members:
            m.run.write_config(m.config.to_dict(), dataset_used=data.name, data_source=data.source,
                               sweep={"lrs": lrs, "runs": names})
            m.run.write_status("starting", epoch=0, epochs=config.epochs)
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


def fit_sweep(session: SweepSession, listener: Listener, control: Control | None = None) -> RunEnded:
    """Train every model for `config.epochs` epochs on the same batches, reporting to
    `listener`: BatchEnd for the models' mean progress, SweepEpoch after each epoch. Each
    model's run directory lives and ends through its own `lifecycle.RunLife`, written by one
    background writer."""
    control = control or Control()
    cfg, net, members = session.config, session.net, session.members
    K = len(members)
    num_batches = len(session.train_iter)
    total = num_batches * cfg.epochs
    check_every, report_every = reporting_intervals(num_batches, session.device.type)
    writer = RecordWriter()
    for m in members:
        m.life = RunLife(m.run, cfg.epochs, writer.submit)
    try:   # the thread probe allocates: inside what records how the run ended
        plan, governor = thread_plan(cfg, session.device, lambda: _sweep_probe(session))
        if governor is not None:
            governor.start()
        announce(listener, config=cfg.to_dict(), device=session.device, data=session.data,
                 start_epoch=0, run=members[0].run, threads=plan.describe() if plan else "",
                 run_dirs=[str(m.run.path) for m in members if m.run is not None])
    except BaseException as exc:
        raise _fail(session, exc, writer) from None

    def diverge(k: int, batch: int, value: float) -> None:
        m = members[k]
        kept = m.run is not None and bool(m.history)   # a checkpoint is saved at each epoch end
        m.status = "diverged"
        m.message = divergence_message(value, session.epoch, batch,
                                       divergence_hint(m.config), kept)
        net.zero_model(k)
        session.updater.reset_model(k)
        m.life.end("diverged", len(m.history), m.message, resumable=kept)
        listener(Message(f"lr {m.lr:g}: {m.message}; the other models go on", "warning"))

    def save_if_asked() -> None:
        if control.save.is_set():
            control.save.clear()
            count = _save_all(session)
            writer.drain()
            listener(Message(f"checkpoints saved at epoch {session.epoch + 1}, batch "
                             f"{session.batch}: {count} run directories"))

    control.while_paused = save_if_asked   # a checkpoint asked for while paused: at once
    stacked = Model(net, net.loss, net.probs, "stacked")
    ended: RunEnded
    try:
        for m in members:
            m.life.status("running", 0)
        while session.epoch < cfg.epochs and any(m.alive for m in members):
            epoch = session.epoch + 1
            session.epoch_rng_state = session.generator.get_state()
            trained = training_clock(control)   # pauses left out
            loss_sum = torch.zeros(K, device=session.device)
            correct = torch.zeros(K, dtype=torch.int64, device=session.device)
            seen = 0
            session.partial, session.batch = [loss_sum, correct, 0], 0
            pending: list[tuple[int, torch.Tensor]] = []
            alive = [m.alive for m in members]
            net.train()
            for batch, (X, y) in enumerate(session.train_iter, start=1):
                if control.should_stop():
                    raise Stopped
                X, y = X.to(session.device, non_blocking=True), y.to(session.device,
                                                                      non_blocking=True)
                progress = ((epoch - 1) * num_batches + batch - 1) / total
                lrs = [scheduled_lr(m.lr, cfg.schedule, progress) for m in members]
                by_hand = net.step_grads(X, y, session.updater.mean_loss)
                if by_hand is not None:
                    out, l = by_hand
                else:
                    out = net(X)
                    l = net.loss(out, y)
                    (l.mean(0) if session.updater.mean_loss else l.sum(0)).sum().backward()
                session.updater.step(lrs, X.shape[0], alive)
                l_sum = l.detach().sum(0)
                loss_sum += l_sum
                # max's indices: argmax's (the first maximum), three times faster on (B, K, 10)
                correct += (out.detach().max(-1).indices == y.unsqueeze(1)).sum(0)
                seen += y.numel()
                session.partial[2], session.batch = seen, batch
                for m, lr, a in zip(members, lrs, alive):
                    if a:
                        m.lr_now = lr
                pending.append((batch, l_sum))
                if len(pending) >= check_every or batch == num_batches:
                    values = torch.stack([v for _, v in pending]).tolist()
                    for (b, _), row in zip(pending, values):
                        for k, value in enumerate(row):
                            if members[k].alive and not math.isfinite(value):
                                diverge(k, b, value)
                    pending.clear()
                    alive = [m.alive for m in members]
                    if not any(alive):
                        break
                save_if_asked()
                if governor is not None:
                    governor.tick((epoch - 1) * num_batches + batch)
                if batch % report_every and batch != num_batches:
                    continue
                live = [k for k, a in enumerate(alive) if a]
                losses, hits = loss_sum.tolist(), correct.tolist()
                elapsed = trained()
                event = BatchEnd(epoch, batch, num_batches, seen,
                                 seen / elapsed if elapsed > 0 else 0.0,
                                 sum(losses[k] for k in live) / len(live) / seen,
                                 sum(hits[k] for k in live) / len(live) / seen,
                                 governor.threads if governor else (plan.threads if plan else 0))
                listener(event)
                for k in live:   # each member's own running loss and accuracy
                    members[k].life.progress(session.epoch, replace(
                        event, loss=losses[k] / seen, acc=hits[k] / seen))
            if not any(m.alive for m in members):
                break
            probs = predict_probs(stacked, session.test_iter, session.device, control)
            labels = session.data.test_labels
            seconds = trained()
            losses, hits = loss_sum.tolist(), correct.tolist()
            rows: list[dict[str, float] | None] = []
            session.epoch, session.batch, session.partial = epoch, 0, None
            session.epoch_rng_state = None
            for k, m in enumerate(members):
                if not m.alive:
                    rows.append(None)
                    continue
                test_acc = float((probs[:, k].argmax(dim=1) == labels).float().mean())
                row = {"epoch": epoch, "train_loss": losses[k] / seen,
                       "train_acc": hits[k] / seen, "test_acc": test_acc,
                       "seconds": round(seconds, 4), "lr": m.lr_now}
                m.history.append(row)
                rows.append(row)
                m.life.epoch_end(row, session.member_state(k), probs[:, k], labels)
            best = max((k for k, r in enumerate(rows) if r), key=lambda k: rows[k]["test_acc"])
            listener(SweepEpoch(epoch, seconds, session.lrs, rows, best, probs[:, best].clone(),
                                _templates(session, best)))
        finished = [k for k, m in enumerate(members) if m.alive]
        for k in finished:
            members[k].status, members[k].message = "finished", "training finished"
        if finished:
            b = max((members[k] for k in finished),
                    key=lambda m: m.history[-1]["test_acc"] if m.history else 0.0)
            acc = b.history[-1]["test_acc"] if b.history else float("nan")
            ended = RunEnded("finished", session.epoch,
                             f"sweep finished: best lr {b.lr:g} (test acc {acc:.4f})",
                             str(b.run.checkpoint_path) if b.run else None)
        else:
            ended = RunEnded("diverged", session.epoch, "every learning rate diverged", None)
    except Stopped:
        _save_all(session)
        where = stop_point(session.epoch, session.batch)
        for m in members:
            if m.alive:
                m.status, m.message = "stopped", f"stopped {where}; checkpoint saved"
        ended = RunEnded("stopped", session.epoch, f"sweep stopped {where}; checkpoints saved",
                         None)
    except BaseException as exc:
        raise _fail(session, exc, writer) from None
    finally:
        control.while_paused = None
    try:
        for m in members:
            if m.status in ("finished", "stopped"):
                m.life.end(m.status, len(m.history), m.message, control.reason,
                           resumable=m.status == "stopped")
        writer.drain()
    except BaseException as exc:
        raise _fail(session, exc, writer) from None
    finally:
        writer.close()
        for m in members:
            m.life.release()
    ended.run_dirs = [str(m.run.path) for m in members   # those with a checkpoint
                      if m.run is not None and (m.history or m.status == "stopped")]
    listener(ended)
    return ended


def _sweep_probe(session: SweepSession):
    """One sweep step's work on a copy of the stacked models and a made-up batch: what the
    thread governor times (see `train._training_probe`), never the sweep's own weights."""
    import copy

    net = copy.deepcopy(session.net)
    X, y = probe_batch(session.config, session.device)

    def probe() -> None:
        for p in net.parameters():
            p.grad = None
        if net.step_grads(X, y, session.updater.mean_loss) is None:
            net.loss(net(X), y).sum().backward()
    return probe


def _save_all(session: SweepSession) -> int:
    """A checkpoint of this exact point for every live model; returns how many."""
    live = [(k, m) for k, m in enumerate(session.members) if m.alive and m.run is not None]
    for k, m in live:
        m.life.checkpoint(session.member_state(k))
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
