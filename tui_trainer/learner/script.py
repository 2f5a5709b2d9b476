"""A learner's own net, loss, updater and iterators, trained by smtui's loop from their script.

`d2l.train_ch3` lands here. The learner's objects become a `train.Session` (their net as a
module, their loss and updater as they are, their iterators) and go through `train.fit`, the
loop of every single run: the same events, checks, stop points and run directory. What shows
them depends on where the script runs: on a terminal the smtui app in script mode (curves,
predictions, pause and stop keys), closing when training ends; otherwise one line per epoch.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import torch

from ..core import data as data_mod
from ..core.config import TrainConfig
from ..core.console import SafeStream, epoch_line
from ..core.events import Control, EpochEnd, Event, Message, RunEnded
from ..core.mistakes import stopped
from ..store.rundir import RunDir
from ..loop.device import random_untouched
from ..loop.train import Session, fit
from ..loop.usercode import OwnCode, as_module, own_model, updater_lr


def _describe(train_iter, test_iter) -> data_mod.FashionMNIST:
    """The data of iterators smtui did not make (the book's DataLoader, say), as the views need
    it: the test images and labels in order, and the size of the training set."""
    images, labels = [], []
    for X, y in test_iter:
        images.append((X[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).cpu())
        labels.append(y.cpu())
    dataset = getattr(train_iter, "dataset", None)
    num_train = len(dataset) if dataset is not None else 0
    root = getattr(dataset, "root", None)
    return data_mod.FashionMNIST(torch.empty(0, 28, 28, dtype=torch.uint8),
                                 torch.zeros(num_train, dtype=torch.int64), torch.cat(images),
                                 torch.cat(labels).long(), str(root or "the script's loader"))


def _script_name() -> str:
    """The running script's path, as the run's model (`/home/me/d2l/softmax_scratch.py`)."""
    name = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return str(Path(name).resolve()) if name.endswith(".py") else "script.py"


def session_for(net, train_iter, test_iter, loss, num_epochs: int, updater,
                out: str | None, trained_by: str = "d2l.train_ch3") -> Session:
    """The learner's objects as a `Session`, checked on the first test images; a run directory
    in `out` when given. `trained_by`: the book's function the script called."""
    module = as_module(net)
    params = list(module.parameters())
    device = params[0].device if params else torch.device("cpu")
    with random_untouched(device):   # the seeded script's stream is the book's train_ch3's
        fashion = getattr(test_iter, "fashion", None) or _describe(train_iter, test_iter)
        X, y = next(iter(test_iter))
        model = own_model(OwnCode(module, loss, updater, None), X.to(device), y.to(device),
                          trained_by.removeprefix("d2l."))
    batch_size = getattr(train_iter, "batch_size", None) or len(X)
    lr = updater_lr(updater)
    config = TrainConfig(model=_script_name(), epochs=int(num_epochs), batch_size=batch_size,
                         lr=lr or TrainConfig.lr, device=device.type,
                         threads="auto", out=out or "runs")   # a count the script set is kept
    run = None
    if out:
        run = RunDir.create(out, config.run_name)
        run.acquire_lock()
        run.write_config(config.to_dict(), dataset_used=fashion.name, data_source=fashion.source,
                         device_used=str(device),
                         trained_by=trained_by, lr_known=lr is not None)
        run.write_status("starting", epoch=0, epochs=config.epochs)
    return Session(config, fashion, device, model, updater, train_iter, test_iter,
                   torch.Generator(), run, trained_by=trained_by)


class EpochLines:
    """Without a terminal: one line per epoch, the run's end when it is not a plain finish."""

    def __init__(self, epochs: int) -> None:
        self.out = SafeStream(sys.stdout)
        self.epochs = epochs

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochEnd):
            self.out.write(epoch_line(event.metrics(), self.epochs) + "\n")
        elif isinstance(event, Message) and event.level != "info":
            SafeStream(sys.stderr).write(f"d2l: {event.text}\n")
        elif isinstance(event, RunEnded) and event.status == "stopped":   # a diverged run
            # raises FloatingPointError, whose one line says it (mistakes.py)
            SafeStream(sys.stderr).write(f"d2l: {event.message}\n")


class EpochFigure(EpochLines):
    """In a notebook: the book's train_ch3 figure (train loss, train acc, test acc by epoch,
    ylim 0.3-0.9), one output of the cell updated each epoch; warnings as lines."""

    LEGEND = ["train loss", "train acc", "test acc"]

    def __init__(self, epochs: int) -> None:
        from .drawing import animated_figure

        super().__init__(epochs)
        self.figure = animated_figure(xlabel="epoch", xlim=[1, epochs], ylim=[0.3, 0.9],
                                      legend=self.LEGEND)
        self.X: list[list[float]] = [[], [], []]
        self.Y: list[list[float]] = [[], [], []]

    def __call__(self, event: Event) -> None:
        if not isinstance(event, EpochEnd):
            super().__call__(event)
            return
        for xs, ys, value in zip(self.X, self.Y,
                                 (event.train_loss, event.train_acc, event.test_acc)):
            xs.append(float(event.epoch))
            ys.append(float(value))
        self.figure.draw(self.X, self.Y, self.LEGEND, {0, 1, 2})


def _live() -> bool:
    """Whether to show the app: stdin, stdout and stderr are a terminal (`2>err.log` keeps
    the script's lines, not an app drawn into the file), this is the main thread (from
    another, one line per epoch), and not asked otherwise."""
    import os
    if os.environ.get("SMTUI_NO_UI") or os.environ.get("TERM") == "dumb":
        return False
    if threading.current_thread() is not threading.main_thread():
        return False   # the app takes signals and the terminal: the main thread's alone
    try:
        return sys.stdout.isatty() and sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def train_script(net, train_iter, test_iter, loss, num_epochs, updater, *,
                 out: str | None = None,
                 trained_by: str = "d2l.train_ch3") -> list[dict[str, float]]:
    """Train the learner's objects; returns the epochs' metrics rows. A stop (a key, Ctrl+C)
    raises KeyboardInterrupt once the terminal is restored; a diverged loss raises
    FloatingPointError with the loop's message."""
    session = session_for(net, train_iter, test_iter, loss, num_epochs, updater, out, trained_by)
    control = Control()
    if _live():
        from ..ui.launch import run_script
        from .drawing import BOTTOM
        BOTTOM.release()   # an Animator's figure stays in the scrollback, above the app's
        ended = run_script(session)
    else:
        ended = _run_lines(session, control)
    if ended.status == "stopped":
        raise stopped(ended.message)
    if ended.status == "diverged":
        raise FloatingPointError(ended.message)
    return session.history


def _run_lines(session: Session, control: Control) -> RunEnded:
    """Headless (a notebook's figure, else a line per epoch): Ctrl+C, the kernel's
    interrupt, SIGTERM and SIGHUP ask the loop to stop at the next batch (with a checkpoint in
    `out`), as in `smtui --no-ui`; a second Ctrl+C ends the script at once."""
    from ..headless.single import StopOnSignals
    from .notebook import in_notebook

    epochs = session.config.epochs
    listener = EpochFigure(epochs) if in_notebook() else EpochLines(epochs)
    if threading.current_thread() is not threading.main_thread():
        return fit(session, listener, control)
    with StopOnSignals(control) as signals:
        ended = fit(session, listener, control)
    if signals.code() not in (None, 128 + signal.SIGINT):
        raise SystemExit(signals.code())
    return ended
