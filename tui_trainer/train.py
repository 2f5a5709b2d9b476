"""The training loop: the book's `train_epoch` and a `fit` that reports events and can be stopped.

`fit` is the loop of a single run, behind the TUI, `--no-ui`, a learner's own model
(`--model FILE.py`) and the drop-in `d2l.train_ch3`; a learning-rate sweep has its own batch
arithmetic in sweep.py. Both report progress to a listener, check a `Control` between batches for
pause and stop, and leave their record through `lifecycle.RunLife`, so every kind of run writes
the same run directory. Losses are summed on the device and read back only at reporting points:
on a GPU there is no host synchronisation per batch.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from . import cpu
from . import data as data_mod
from .config import TrainConfig, is_model_file
from .errors import SmtuiError
from .fastpath import linear_step
from .events import BatchEnd, Control, EpochEnd, Listener, Message, RunEnded
from .machine import ProcessMeter
from .lifecycle import RunLife, announce, checkpoint_state, divergence_message, stop_point
from .metrics import Accumulator, correct_count
from .models import Model, build_model, class_templates
from .runs import RunDir, load_checkpoint
from .updaters import BookSGD, build_updater, current_lr, scheduled_lr, set_lr


class Stopped(Exception):
    """Raised inside an epoch when the driver asked to stop."""


class NonFiniteLoss(Exception):
    """Raised at the batch whose loss is inf or nan."""

    def __init__(self, batch: int, value: float) -> None:
        super().__init__(f"loss became {value} at batch {batch}")
        self.batch, self.value = batch, value


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; cuda without CUDA, or a GPU index the machine
    does not have, is a user error."""
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SmtuiError(f"--device {name}: CUDA is not available here (use --device cpu "
                             "or auto)")
        device = torch.device(name)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise SmtuiError(f"--device {name}: this machine has {count} CUDA device"
                             f"{'s' if count != 1 else ''} (cuda:0"
                             f"{f' to cuda:{count - 1}' if count > 1 else ''})")
        return device
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def reporting_intervals(num_batches: int, device_type: str) -> tuple[int, int]:
    """(check_every, report_every): how many batches pass between reading the loss back to check
    it for inf/nan, and between progress reports. Every batch on the CPU, where a read is free;
    every ~5% of an epoch on a GPU, where each read is a host-device synchronisation. Progress
    ~50 times an epoch: enough for any progress bar, cheap for the loop. Reports fall on checks,
    so an epoch on a GPU synchronises about 20 times, plus once for its evaluation."""
    check_every = 1 if device_type == "cpu" else max(1, math.ceil(num_batches / 20))
    report_every = max(check_every, num_batches // 50, 1)
    if report_every % check_every:
        report_every += check_every - report_every % check_every
    return check_every, report_every


def train_epoch(net, train_iter, loss, updater, *, device: torch.device | None = None,
                control: Control | None = None, on_batch=None, lr_at=None,
                start_batch: int = 0, metric: Accumulator | None = None,
                check_every: int = 1, step=None) -> tuple[float, float]:
    """The book's `train_epoch_ch3`: one pass over `train_iter`, returns (loss, acc) per example.

    A torch optimizer gets `l.mean().backward()` and `step()`; the book's own updater gets
    `l.sum().backward()` and `updater(batch_size)`. The keyword arguments are smtui's additions:
    `control` (pause/stop between batches), `on_batch(batch, metric)` progress, `lr_at(batch)` for
    a schedule, `start_batch` and `metric` to continue an interrupted epoch, `check_every`, how
    many batches may pass before the loss is read back and checked for inf/nan, and `step(X, y)
    -> (y_hat, l)`, the same update written out (fastpath.py) in place of the book's backward.
    """
    if isinstance(net, torch.nn.Module):
        net.train()
    metric = metric if metric is not None else Accumulator(3)  # loss sum, correct, examples
    pending: list[tuple[int, torch.Tensor]] = []
    batches = itertools.islice(iter(train_iter), start_batch, None)
    batch = start_batch
    for batch, (X, y) in enumerate(batches, start=start_batch + 1):
        if control is not None:
            if control.paused and pending:   # report up to the last batch done before waiting
                _check_finite(pending)
                if on_batch is not None:
                    on_batch(batch - 1, metric)
            if control.should_stop():
                raise Stopped
        if device is not None:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if lr_at is not None:
            set_lr(updater, lr_at(batch - 1))
        if step is not None:
            y_hat, l = step(X, y)
        else:
            y_hat = net(X)
            l = loss(y_hat, y)
            if isinstance(updater, torch.optim.Optimizer):
                updater.zero_grad()
                l.mean().backward()
                updater.step()
            else:
                l.sum().backward()
                updater(X.shape[0])
        l_sum = l.detach().sum()
        metric.add(l_sum, correct_count(y_hat.detach(), y), y.numel())
        pending.append((batch, l_sum))
        if len(pending) >= check_every:
            _check_finite(pending)
            if on_batch is not None:
                on_batch(batch, metric)
    if pending:
        _check_finite(pending)
        if on_batch is not None:
            on_batch(batch, metric)
    return metric[0] / metric[2], metric[1] / metric[2]


def _check_finite(pending: list[tuple[int, torch.Tensor]]) -> None:
    """Read back the pending batch losses (one sync) and raise at the first non-finite one."""
    values = [pending[0][1].item()] if len(pending) == 1 else \
        torch.stack([v for _, v in pending]).tolist()
    for (batch, _), value in zip(pending, values):
        if not math.isfinite(value):
            raise NonFiniteLoss(batch, value)
    pending.clear()


@torch.no_grad()
def predict_probs(model: Model, data_iter, device: torch.device | None = None,
                  control: Control | None = None) -> torch.Tensor:
    """Class probabilities for every example of `data_iter`, as one CPU tensor: (N, 10), or
    (N, K, 10) for a sweep's stacked models. `model` is anything with `net` and `probs`."""
    if isinstance(model.net, torch.nn.Module):
        model.net.eval()
    chunks = []
    for X, _ in data_iter:
        if control is not None and control.should_stop():
            raise Stopped
        if device is not None:
            X = X.to(device, non_blocking=True)
        chunks.append(model.probs(model.net(X)).float())
    return torch.cat(chunks).cpu()


def predict_ch3(probs: torch.Tensor, labels: torch.Tensor, n: int = 6) -> list[tuple[str, str]]:
    """The book's `predict_ch3` as data: (true, predicted) text labels of the first n test images."""
    trues = data_mod.get_fashion_mnist_labels(labels[:n])
    preds = data_mod.get_fashion_mnist_labels(probs[:n].argmax(dim=1))
    return list(zip(trues, preds))


def quality_check(train_loss: float, train_acc: float, test_acc: float) -> list[str]:
    """The book's assertions at the end of `train_ch3`, as a list of failures (empty = passed)."""
    failures = []
    if not train_loss < 0.5:
        failures.append(f"train loss {train_loss:.4f} is not below 0.5")
    if not 0.7 < train_acc <= 1:
        failures.append(f"train accuracy {train_acc:.4f} is not in (0.7, 1]")
    if not 0.7 < test_acc <= 1:
        failures.append(f"test accuracy {test_acc:.4f} is not in (0.7, 1]")
    return failures


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


# How an option given with --resume is treated (the README's "Resuming" section says the same).
# Every other option takes effect from the first batch trained and is recorded in config.json:
# lr, weight decay and schedule (the optimizer's saved state keeps its moments, not its lr),
# epochs (never below those already trained), device, data location, DataLoader workers.
RESUME_FIXED = {   # the weights, the optimizer state or the shuffling RNG depend on these
    "model": "the weights are this model's",
    "softmax": "the loss is part of the model",
    "optimizer": "the optimizer's state is saved",
    "resize": "the weights are for this image size",
    "seed": "the checkpoint restores its shuffling state",
    "out": "the run stays in its own directory",
}
RESUME_AT_EPOCH = ("batch_size", "loader")   # they define the interrupted epoch's batches


def check_resume(state: dict[str, Any], config: TrainConfig, where: str) -> dict[str, list]:
    """Refuse a config that cannot continue `state`; returns {option: [old, new]} that changed."""
    saved = TrainConfig.from_dict(state.get("config", {}))
    changed = {name: [getattr(saved, name), getattr(config, name)]
               for name in config.to_dict() if getattr(saved, name) != getattr(config, name)}
    for name, why in RESUME_FIXED.items():
        if name in changed:
            raise SmtuiError(f"checkpoint {where} was trained with {name}={getattr(saved, name)!r}, "
                             f"not {getattr(config, name)!r} ({why})")
    done, batch = int(state.get("epoch", 0)), int(state.get("batch", 0))
    if batch:
        for name in RESUME_AT_EPOCH:
            if name in changed:
                option = "--" + name.replace("_", "-")
                raise SmtuiError(f"{option} cannot change in the middle of an epoch: {where} "
                                 f"stopped at epoch {done + 1}, batch {batch} with {option} "
                                 f"{getattr(saved, name)}; resume with that value", exit_code=2)
    needed = done + (1 if batch else 0)
    if config.epochs < needed:
        raise SmtuiError(f"--epochs {config.epochs} is below the {needed} epochs {where} has "
                         f"{'started' if batch else 'trained'}; pass --epochs {needed} or more",
                         exit_code=2)
    return changed


def prepare(config: TrainConfig, *, data: data_mod.FashionMNIST | None = None,
            resume: str | None = None, create_run: bool = True) -> Session:
    """Validate the config, read the data, build the model, and open or create the run dir.

    Everything that can refuse the run is checked before the run directory is touched: a
    refused resume leaves its files as they were. The run directory is locked for this process.
    """
    errors = config.validate()
    if errors:
        name, reason = next(iter(errors.items()))
        raise SmtuiError(f"--{name.replace('_', '-')} {reason}", exit_code=2)
    state, changed = None, {}
    if resume:
        if RunDir.open(resume).read_config().get("trained_by"):
            raise SmtuiError(f"{resume} was trained by a script's d2l.train_ch3: run the "
                             "script again to train it (its net lives in the script)")
        state = load_checkpoint(resume)
        changed = check_resume(state, config, resume)
    device = resolve_device(config.device)
    if data is None:
        data = data_mod.load_fashion_mnist(config.data_dir, config.dataset)
    if config.batch_size > len(data.train_labels):
        raise SmtuiError(f"--batch-size {config.batch_size} is larger than the "
                         f"{len(data.train_labels)} training images", exit_code=2)
    if state is not None:
        trained_on = state.get("dataset", data.name)
        if trained_on != data.name:
            raise SmtuiError(f"checkpoint {resume} was trained on the {trained_on} data set, "
                             f"but this run found the {data.name} one (check --data-dir and "
                             "--dataset)")
        if state.get("batch") and state.get("num_train", len(data.train_labels)) != \
                len(data.train_labels):
            raise SmtuiError(f"checkpoint {resume} stopped mid-epoch over "
                             f"{state['num_train']} training images, but the data has "
                             f"{len(data.train_labels)}")
    torch.manual_seed(config.seed)
    side = config.resize or 28
    generator = torch.Generator().manual_seed(config.seed)
    train_iter, test_iter = data_mod.make_loaders(
        data, config.batch_size, loader=config.loader, resize=config.resize, device=device,
        generator=generator, num_workers=config.num_workers)
    own_updater = None
    if is_model_file(config.model):
        model, own_updater = _own_model(config, test_iter, device)
    else:
        model = build_model(config.model, config.softmax, num_inputs=side * side)
        model.net.to(device)
    updater = own_updater or build_updater(config.optimizer, model.net.parameters(), config.lr,
                                           config.weight_decay)
    session = Session(config, data, device, model, updater, train_iter, test_iter, generator,
                      run=None)
    if state is not None:
        try:
            model.net.load_state_dict(state["model"])
            if hasattr(updater, "load_state_dict"):
                updater.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise SmtuiError(f"checkpoint {resume} does not fit this model: "
                             f"{str(exc).splitlines()[0][:120]}") from None
        # The saved optimizer state carries the old lr and weight decay: the options win (a
        # learner's own updater keeps the rate their file gives it).
        if own_updater is None:
            set_lr(updater, config.lr)
        if own_updater is None and not isinstance(updater, BookSGD):
            for group in updater.param_groups:
                group["weight_decay"] = config.weight_decay
        generator.set_state(state["rng"])
        session.epoch, session.batch = int(state["epoch"]), int(state["batch"])
        session.epoch_rng_state = state["rng"] if session.batch else None
        session.partial = [float(v) for v in state.get("partial", [0.0, 0.0, 0.0])]
        session.partial_seconds = float(state.get("partial_seconds", 0.0))
        session.history = list(state.get("history", []))
        run = RunDir.open(resume)
        run.acquire_lock()
    elif create_run:
        run = RunDir.create(config.out, config.run_name)
        run.acquire_lock()
    else:
        return session
    session.run = run
    try:
        extra = {"dataset_used": data.name, "data_source": data.source}
        if state is not None:
            resumed = run.read_config().get("resumed")
            resumed = resumed if isinstance(resumed, list) else []
            resumed.append({"after_epoch": session.epoch, "batch": session.batch,
                            "changed": changed, "at": time.strftime("%Y-%m-%d %H:%M:%S")})
            extra["resumed"] = resumed
            run.truncate_metrics(session.epoch)
        run.write_config(config.to_dict(), **extra)
        run.write_status("starting", epoch=session.epoch, epochs=config.epochs)
    except BaseException as exc:
        raise RunLife(run, config.epochs).fail(exc) from None
    return session


def _own_model(config: TrainConfig, test_iter, device: torch.device):
    """A learner's model file as (Model, their updater or None), checked on the first test
    images before anything is trained."""
    from . import usercode

    code = usercode.load_file(config.model)
    code.net.to(device)
    X, y = next(iter(test_iter))
    model = usercode.own_model(code, X[:8].to(device), y[:8].to(device), code.path.name)
    if code.updater is not None and config.schedule != "constant" and \
            not isinstance(code.updater, torch.optim.Optimizer):
        raise SmtuiError(f"--schedule {config.schedule}: {code.path.name}'s updater is a "
                         "function, whose learning rate smtui cannot set; use --schedule "
                         "constant, or a torch optimizer as trainer", exit_code=2)
    return model, code.updater


def divergence_hint(cfg: TrainConfig) -> str:
    """What to change when this config's loss became inf or nan."""
    if cfg.model == "scratch" and cfg.softmax == "naive":
        return f"use --softmax stable or a lower --lr than {cfg.lr:g}"
    return "lower --lr"


def training_clock(control: Control):
    """A clock from now: seconds spent training, the time waited in pauses left out (an epoch's
    `seconds` and the pace say how long training took, not how long the user paused)."""
    start, paused = time.perf_counter(), control.paused_seconds

    def trained() -> float:
        return time.perf_counter() - start - (control.paused_seconds - paused)
    return trained


def probe_batch(cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A made-up batch of the run's shape, the same every time."""
    side = cfg.resize or 28
    g = torch.Generator().manual_seed(0)
    X = torch.rand(cfg.batch_size, 1, side, side, generator=g).to(device)
    return X, torch.randint(0, 10, (cfg.batch_size,), generator=g).to(device)


def _training_probe(session: Session):
    """One training step's work (forward, loss, backward) on a copy of the model and a made-up
    batch: what the thread governor times, so that timing never touches the run's weights.

    A learner's own net may read its weights as globals, which no copy can redirect: its probe
    runs on the net itself and puts back the gradients it found, so the weights and the next
    update are untouched."""
    import copy

    X, y = probe_batch(session.config, session.device)
    if session.model.kind == "own":
        params = list(session.model.net.parameters())

        def probe_in_place() -> None:
            saved = [p.grad for p in params]
            for p in params:
                p.grad = None
            try:
                session.model.loss(session.model.net(X), y).sum().backward()
            finally:
                for p, grad in zip(params, saved):
                    p.grad = grad
        return probe_in_place
    net = copy.deepcopy(session.model.net)

    def probe() -> None:
        for p in net.parameters():
            p.grad = None
        session.model.loss(net(X), y).sum().backward()
    return probe


def thread_plan(cfg: TrainConfig, device: torch.device, make_probe, prefer_fewer: bool = False):
    """(plan, governor) of a run's CPU threads: None, None on a GPU.

    See cpu.py: the budget of threads, and with --threads auto a governor that uses fewer while
    other processes share the CPU, timing `make_probe()`. A thread count the caller set (a
    library user's torch.set_num_threads) is kept; one thread is taken as the governor's own
    choice left from an earlier run in this thread (the app's worker), not as a caller's.
    `prefer_fewer`: one thread is kept unless more train faster (a learner's net in the app).
    """
    if device.type != "cpu":
        return None, None
    plan = cpu.plan_for(cfg.threads)
    if plan.adaptive and torch.get_num_threads() not in (plan.threads, 1):
        plan = cpu.ThreadPlan(torch.get_num_threads(), False, "torch.set_num_threads")
    if plan.adaptive:
        return plan, cpu.ThreadGovernor(plan.threads, torch.set_num_threads, make_probe(),
                                        prefer=1 if prefer_fewer else None)
    torch.set_num_threads(plan.threads)
    return plan, None


def fit(session: Session, listener: Listener, control: Control | None = None) -> RunEnded:
    """Train for the remaining epochs of `session.config`, reporting events to `listener`.

    Returns the final `RunEnded` (also sent to the listener). A stop request ends the run at the
    next batch with a checkpoint of that exact point; a non-finite loss ends it without
    overwriting the last good checkpoint. The run's record and end are `lifecycle.RunLife`'s.
    """
    control = control or Control()
    cfg = session.config
    life = RunLife(session.run, cfg.epochs)
    meter = ProcessMeter()   # the process's CPU and memory over each epoch, for metrics.jsonl
    try:   # the thread probe allocates: inside what records how the run ended
        # A learner's own net beside the app's drawing keeps one thread unless two train
        # faster: its step is Python's, a second thread gains it nothing (0.19 s an epoch of
        # the book's code with one or two, in a pipe) while the drawing needs that core (live:
        # 0.24 s with two, 0.20 s with one). smtui's own step gains from two, also in the app.
        plan, governor = thread_plan(cfg, session.device, lambda: _training_probe(session),
                                     control.beside_ui and session.model.kind == "own")
        if governor is not None:
            governor.start()
        announce(listener, config=cfg.to_dict(), device=session.device, data=session.data,
                 start_epoch=session.epoch, run=session.run,
                 threads=plan.describe() if plan else "")
    except BaseException as exc:
        raise life.fail(exc, session.model.explain) from None
    num_batches = len(session.train_iter)
    total_batches = num_batches * cfg.epochs
    check_every, report_every = reporting_intervals(num_batches, session.device.type)
    # The book's update written out where it applies (fastpath.py); the book's backward() else.
    step = linear_step(session.model, session.updater) if cfg.gradient == "analytic" else None

    def lr_at(epoch_index: int):
        def at(batch_index: int) -> float:
            return scheduled_lr(cfg.lr, cfg.schedule, (epoch_index * num_batches + batch_index)
                                / total_batches)
        return at

    ended: RunEnded
    try:
        life.status("running", session.epoch)
        while session.epoch < cfg.epochs:
            epoch = session.epoch + 1
            if session.batch == 0:
                session.epoch_rng_state = session.generator.get_state()
            else:
                # Resuming mid-epoch: replay the same permutation and skip the batches done.
                session.generator.set_state(session.epoch_rng_state)
            metric = Accumulator(3)
            metric.add(*session.partial)
            start_batch = session.batch
            done_before = session.partial[2]
            trained = training_clock(control)   # this epoch's seconds, pauses left out

            def save_if_asked(batch: int, m: Accumulator, epoch=epoch, trained=trained) -> None:
                if control.save.is_set() and session.run is not None:
                    control.save.clear()
                    state = session.checkpoint_state()
                    state["partial"] = [m[0], m[1], m[2]]
                    state["partial_seconds"] = session.partial_seconds + trained()
                    life.checkpoint(state)
                    listener(Message(f"checkpoint saved at epoch {epoch}, batch {batch}: "
                                     f"{session.run.checkpoint_path}"))

            def on_batch(batch: int, m: Accumulator, epoch=epoch, trained=trained,
                         done_before=done_before) -> None:
                session.batch = batch
                save_if_asked(batch, m)
                if batch % report_every and batch != num_batches:
                    return
                if governor is not None:
                    governor.tick((epoch - 1) * num_batches + batch)
                elapsed = trained()
                examples = m[2]
                event = BatchEnd(epoch, batch, num_batches, int(examples),
                                 (examples - done_before) / elapsed if elapsed > 0 else 0.0,
                                 m[0] / examples, m[1] / examples,
                                 governor.threads if governor else (plan.threads if plan else 0))
                life.progress(session.epoch, event)
                listener(event)

            # A checkpoint asked for while paused is written at once, not after the pause.
            control.while_paused = lambda m=metric, save=save_if_asked: save(session.batch, m)
            try:
                train_loss, train_acc = train_epoch(
                    session.model.net, session.train_iter, session.model.loss, session.updater,
                    device=session.device, control=control, on_batch=on_batch,
                    lr_at=lr_at(session.epoch) if cfg.schedule != "constant" else None,
                    start_batch=start_batch, metric=metric, check_every=check_every,
                    step=step)
                session.batch = num_batches
                session.partial = [metric[0], metric[1], metric[2]]
                probs = predict_probs(session.model, session.test_iter, session.device, control)
            except Stopped:
                session.partial = [metric[0], metric[1], metric[2]]
                session.partial_seconds += trained()
                raise
            labels = session.data.test_labels
            test_acc = float((probs.argmax(dim=1) == labels).float().mean())
            seconds = session.partial_seconds + trained()
            # The lr the epoch's last batch stepped with: under a schedule, computed, since a
            # run resumed after that batch has not stepped since (its updater holds the next).
            lr = lr_at(session.epoch)(num_batches - 1) if cfg.schedule != "constant" \
                else current_lr(session.updater)
            event = EpochEnd(epoch, train_loss, train_acc, test_acc, seconds, lr, probs,
                             class_templates(session.model.net), meter.sample())
            session.epoch, session.batch = epoch, 0
            session.partial, session.partial_seconds = [0.0, 0.0, 0.0], 0.0
            session.epoch_rng_state = None
            session.history.append(event.metrics())
            life.epoch_end(event.metrics(), session.checkpoint_state(), probs, labels)
            listener(event)
        ended = RunEnded("finished", session.epoch, "training finished",
                         str(session.run.checkpoint_path) if session.run else None)
    except Stopped:
        life.checkpoint(session.checkpoint_state())
        saved = session.run is not None
        ended = RunEnded("stopped", session.epoch,
                         f"stopped {stop_point(session.epoch, session.batch)}"
                         + ("; checkpoint saved" if saved else ""),
                         str(session.run.checkpoint_path) if saved else None)
    except NonFiniteLoss as exc:
        kept = session.run is not None and session.run.checkpoint_path.exists()
        ended = RunEnded("diverged", session.epoch,
                         divergence_message(exc.value, session.epoch, exc.batch,
                                            divergence_hint(cfg), kept),
                         str(session.run.checkpoint_path) if kept else None)
    except BaseException as exc:   # an error, or an interrupt nobody turned into a stop request
        raise life.fail(exc, session.model.explain) from None
    finally:
        control.while_paused = None
    try:
        life.end(ended.status, session.epoch, ended.message, control.reason)
    finally:
        life.release()
    listener(ended)
    return ended
