"""`smtui sweep --lr 0.01,0.1,1`: a learning-rate sweep in one pass, headless.

Prints a line per epoch with each learning rate's test accuracy in a column, then a table of the
final train loss, accuracies, status and run directory of every model, and the commands that
compare, view or resume them. The same signals stop it as a single headless run (a checkpoint
of that batch in every run directory), and every line also goes to each model's `log.txt`.
"""

from __future__ import annotations


from ..store.catalog import sweep_folder
from ..core.config import TrainConfig
from ..core.events import Control, Event, RunEnded, RunStarted, SweepEpoch
from ..core.console import plural, sweep_steps
from .single import ConsoleReporter, StopOnSignals, with_tensorboard


def lr_label(lr: float) -> str:
    """A learning rate as a column heading: 0.1, 3e-05."""
    return f"{lr:g}"


class SweepReporter(ConsoleReporter):
    """A console listener for sweeps: one column of test accuracy per learning rate."""

    def __init__(self, epochs: int, lrs: list[float], **kw) -> None:
        super().__init__(epochs, **kw)
        self.lrs = lrs
        self.width = max(7, *(len(lr_label(lr)) + 1 for lr in lrs))
        self.last: SweepEpoch | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            c = event.config
            threads = f", {event.threads}" if event.threads else ""
            self.line(f"smtui: sweep of {len(self.lrs)} learning rates in one pass: {c['model']} "
                      f"model ({c['softmax']} softmax), {c['optimizer']}, batch "
                      f"{c['batch_size']}, {plural(c['epochs'], 'epoch')} on {event.device}"
                      f"{threads}")
            self.line(f"smtui: data: {event.dataset} Fashion-MNIST ({event.num_train} train / "
                      f"{event.num_test} test) from {event.source}")
            self.line(" " * 11 + "test accuracy by learning rate")
            self.line(f"{'epoch':<11}" + "".join(f"{lr_label(lr):>{self.width}}" for lr in self.lrs)
                      + "   time")
        elif isinstance(event, SweepEpoch):
            self.last = event
            cells = "".join(f"{r['test_acc']:>{self.width}.4f}" if r else f"{'-':>{self.width}}"
                            for r in event.rows)
            self.line(f"{event.epoch:>5}/{self.epochs:<5}" + cells + f"  {event.seconds:.2f}s")
        elif isinstance(event, RunEnded):
            self.line(f"smtui: {event.message}",
                      err=event.status not in ("finished", "stopped"))
        else:
            super().__call__(event)

    def summary(self, members) -> None:
        """The final table: every model's last epoch, status and run directory."""
        self.line(f"{'lr':>10}  {'train loss':>10}  {'train acc':>9}  {'test acc':>8}  "
                  f"{'status':<9} run directory")
        for m in members:
            last = m.history[-1] if m.history else None
            numbers = (f"{last['train_loss']:>10.4f}  {last['train_acc']:>9.4f}  "
                       f"{last['test_acc']:>8.4f}" if last else
                       f"{'-':>10}  {'-':>9}  {'-':>8}")
            self.line(f"{lr_label(m.lr):>10}  {numbers}  {m.status:<9} "
                      f"{m.run.path if m.run else '-'}")
            if m.status == "diverged":
                self.line(f"{'':>10}  {m.message.split(':')[0]}")
        states = {str(m.run.path): m.status for m in members   # those with a checkpoint
                  if m.run and (m.history or m.status == "stopped")}
        finished = [m for m in members if m.status == "finished" and m.run and m.history]
        best = max(finished, key=lambda m: m.history[-1]["test_acc"]) if finished else None
        for line in sweep_steps(states, str(best.run.path) if best else None,
                                folder=sweep_folder([str(m.run.path) for m in members
                                                     if m.run])):
            self.line(line)


def run_sweep_headless(config: TrainConfig, lrs: list[float]) -> int:
    """Train one model per learning rate in one pass; returns the process exit code: 0 when the
    sweep finished (some rates may have diverged: that is what a sweep finds out), 1 when every
    rate diverged, 128 + N on signal N."""
    from ..loop.sweep import fit_sweep, prepare_sweep

    reporter = SweepReporter(config.epochs, lrs)
    control = Control()
    try:
        with StopOnSignals(control) as signals:
            session = prepare_sweep(config, lrs)
            for m in session.members:
                if m.run is not None:
                    reporter.open_log(m.run.log_path)
            ended = fit_sweep(session, with_tensorboard(config, reporter), control)
        reporter.summary(session.members)
        code = signals.code()
        if code is not None:
            return code
        return 0 if ended.status == "finished" else 1
    finally:
        reporter.close()
