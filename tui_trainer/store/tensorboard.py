"""Opt-in TensorBoard export (`--tensorboard DIR`, or the form's field): what TensorBoard users
expect of a training script.

- Each run writes to its own subfolder, named like its run directory (`DIR/20261124-...-scratch`),
  so runs appear side by side in TensorBoard instead of one zig-zag line whose steps restart;
  a resumed run goes on in the same subfolder.
- The book's curves as scalars per epoch (`train_loss`, `train_acc`, `test_acc`, `lr`).
- The hyper-parameters with the run's final metrics (HParams tab), written when the run ends.
- A learning-rate sweep's models, each in the subfolder its own run directory names, as single
  runs are: their curves side by side, and their rates in the HParams table.
- Sample test images each epoch, framed green where the prediction is right and red where it is
  wrong, with a table of their true and predicted labels (Text tab): both change as it learns.

TensorBoard is never a dependency: the writer is imported only when asked for, and a missing
package is a one-line error that says how to install it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..core.console import encodable
from ..core.errors import SmtuiError
from ..core.events import EpochEnd, Message, RunEnded, RunStarted, SweepEpoch
from ..core.labels import TEXT_LABELS
from .rundir import RunDir

SAMPLES = 16
HPARAMS = ("model", "softmax", "optimizer", "lr", "batch_size", "epochs", "weight_decay",
           "schedule", "loader", "resize", "seed", "device")


def framed(images, right):
    """(N, 28, 28) uint8 images as (N, 3, 32, 32) floats with a 2-pixel frame, green where
    `right` is True and red where it is False."""
    import torch

    n, h, w = images.shape
    out = torch.zeros(n, 3, h + 4, w + 4)
    out[:, :, 2:-2, 2:-2] = images[:, None].float() / 255
    colour = torch.tensor([[0.1, 0.8, 0.2], [0.9, 0.15, 0.1]])[(~right).long()]   # (N, 3)
    frame = torch.ones(h + 4, w + 4, dtype=torch.bool)
    frame[2:-2, 2:-2] = False
    out[:, :, frame] = colour[:, :, None]
    return out


HPARAMS_RUN = "hparams"   # a run's settings and final figures: one session's, the latest


class TensorBoardListener:
    """A listener that writes one run's scalars, labelled images and hyper-parameters; for a
    sweep, one such listener per model (`members`)."""

    def __init__(self, log_dir: str, say=None) -> None:
        """`say` (a listener) is told where the event files are and how to open them."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SmtuiError("--tensorboard needs the tensorboard package "
                             "(pip install tensorboard)") from None
        self.make_writer = SummaryWriter
        self.root = Path(log_dir).expanduser()
        try:   # TensorBoard writes its event files' names as UTF-8, strictly
            str(self.root.resolve()).encode("utf-8")
        except UnicodeEncodeError:
            raise SmtuiError(f"--tensorboard {encodable(str(self.root))}: TensorBoard needs a "
                             "folder whose path is UTF-8 text; choose another") from None
        self.say = say
        self.writer: Any = None   # a SummaryWriter once the run has started
        self.images = self.labels = None
        self.config: dict = {}
        self.last: dict[str, Any] | None = None   # the last epoch's metrics row
        self.members: list[TensorBoardListener] = []   # a sweep's models

    @property
    def log_dir(self) -> Path | None:
        return Path(self.writer.log_dir) if self.writer is not None else None

    def open(self, name: str, config: dict) -> None:
        """Start the event files of the run `name` (its run directory's name)."""
        try:
            self.writer = self.make_writer(str(self.root / name))
        except OSError as exc:
            raise SmtuiError(f"--tensorboard {self.root} cannot be written: "
                             f"{exc.strerror or exc}") from None
        self.config = config

    def close(self) -> None:
        """The run has ended: its settings beside its last epoch, and the files closed."""
        if self.writer is None:
            return
        if self.last is not None:
            self.write_hparams(self.last)
        self.writer.close()
        self.writer = None

    def __call__(self, event) -> None:
        if self.members or (isinstance(event, RunStarted) and event.run_dirs):
            self.sweep(event)
        elif isinstance(event, RunStarted):
            name = Path(event.run_dir).name if event.run_dir else \
                time.strftime("%Y%m%d-%H%M%S-") + event.config.get("model", "run")
            self.open(name, event.config)
            if self.say is not None:
                self.say(Message(f"TensorBoard: event files in {self.root / name}; open them "
                                 f"with: tensorboard --logdir {self.root}"))
            self.images = event.test_images[:SAMPLES] if event.test_images is not None \
                else None
            self.labels = event.test_labels[:SAMPLES] if event.test_labels is not None \
                else None
            if event.start_epoch and event.run_dir:   # resumed: its earlier epochs, once
                self.write_history(RunDir(event.run_dir).read_metrics()[:event.start_epoch])
        elif isinstance(event, EpochEnd) and self.writer is not None:
            self.last = event.metrics()
            self.write_scalars(self.last)
            if self.images is not None and event.test_probs is not None:
                preds = event.test_probs[:SAMPLES].argmax(dim=1)
                right = preds == self.labels
                self.writer.add_images("test_images (green: right, red: wrong)",
                                       framed(self.images, right), event.epoch)
                rows = [f"| {i + 1} | {TEXT_LABELS[int(t)]} | {TEXT_LABELS[int(p)]} | "
                        f"{'right' if ok else '**wrong**'} |"
                        for i, (t, p, ok) in enumerate(zip(self.labels, preds, right))]
                self.writer.add_text("test_predictions", "| image | true | predicted | |\n"
                                     "|---|---|---|---|\n" + "\n".join(rows), event.epoch)
            self.writer.flush()
        elif isinstance(event, RunEnded):
            self.close()

    def sweep(self, event) -> None:
        """A learning-rate sweep: each model in the subfolder its run directory names, as a
        single run's, its epochs written as they end and its settings (its rate) with its last
        epoch once the sweep ends. A model that stopped early (diverged) keeps what it had."""
        if isinstance(event, RunStarted):
            self.members = []
            for run_dir in event.run_dirs:
                member = TensorBoardListener(str(self.root))
                member.open(Path(run_dir).name, RunDir(run_dir).read_config())
                self.members.append(member)
            if self.say is not None:
                self.say(Message(f"TensorBoard: event files of the {len(self.members)} runs in "
                                 f"{self.root}; open them with: tensorboard --logdir "
                                 f"{self.root}"))
        elif isinstance(event, SweepEpoch):
            for member, row in zip(self.members, event.rows):
                if row is not None and member.writer is not None:
                    member.last = row
                    member.write_scalars(row)
                    member.writer.flush()
        elif isinstance(event, RunEnded):
            for member in self.members:
                member.close()
            self.members = []

    def write_scalars(self, row: dict[str, Any]) -> None:
        """One epoch's curves (a metrics row), at its epoch."""
        for name in ("train_loss", "train_acc", "test_acc"):
            self.writer.add_scalar(name, row[name], int(row["epoch"]))
        if isinstance(row.get("lr"), (int, float)):
            self.writer.add_scalar("lr", row["lr"], int(row["epoch"]))

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        """The epochs of `rows` that the run's event files do not hold yet: a run resumed with
        --tensorboard showed only its new epochs (step 3 of 3), and one that had it from the
        start must not get its epochs twice."""
        written = steps_written(Path(self.writer.log_dir))
        for row in rows:
            if int(row["epoch"]) not in written:
                self.write_scalars(row)
        self.writer.flush()

    def write_hparams(self, last: dict[str, Any]) -> None:
        """The run's settings beside its last epoch's figures, in the run's `hparams` folder,
        replacing what an earlier session of the run wrote there: after a resume to epoch 5,
        TensorBoard's HParams table showed the first session's `epochs 3` beside epoch 5's
        accuracy (two sessions in one folder; it reads the first's settings)."""
        import shutil

        shutil.rmtree(Path(self.writer.log_dir) / HPARAMS_RUN, ignore_errors=True)
        hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                   for k, v in self.config.items() if k in HPARAMS}
        self.writer.add_hparams(hparams, {f"hparam/{k}": last[k] for k in
                                          ("test_acc", "train_loss", "train_acc")},
                                run_name=HPARAMS_RUN, global_step=int(last["epoch"]))


def steps_written(folder: Path) -> set[int]:
    """The epochs whose test accuracy the event files in `folder` hold (TensorBoard's reader)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not folder.is_dir():
        return set()
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    reader.Reload()
    if "test_acc" not in reader.Tags().get("scalars", []):
        return set()
    return {int(e.step) for e in reader.Scalars("test_acc")}


def export_run(run_dir: Path, root: str) -> tuple[int, Path]:
    """Write a run directory's whole history (its metrics rows and, once it has ended or been
    stopped, its settings beside its last epoch) into `root/<run name>`, adding only what is
    not there yet; returns (epochs added, the folder)."""
    run = RunDir(run_dir)
    rows = run.read_metrics()
    listener = TensorBoardListener(root)
    listener.open(run.path.name, run.read_config())
    try:
        before = steps_written(Path(listener.writer.log_dir))
        listener.write_history(rows)
        if rows:
            listener.write_hparams(rows[-1])
        added = len({int(r["epoch"]) for r in rows} - before)
        return added, Path(listener.writer.log_dir)
    finally:
        listener.writer.close()
