"""The life of a run, shared by every kind of run: smtui's own models, each model of a sweep,
and a learner's own code.

A run is opened (its directory created or resumed, locked, config written), announced to the
listener, trained, and ended in exactly one of four ways: finished, stopped (a checkpoint of
that exact batch), diverged (the last good checkpoint kept) or failed (an exception, recorded
before it travels on). Whatever the loop, these steps write the same files in the same order
and say the same words, so this module owns them; each loop keeps only its batch arithmetic.

- `RunLife`: one run directory's record: status on a timer, the end of an epoch, the end of the
  run, a failure, the lock. It writes through `write`, inline by default; a sweep passes its
  background writer, so the order of one run's files is kept either way.
- `open_run`: a run directory locked for this process, its config and `starting` status written.
- `checkpoint_state`: the one checkpoint format (the sweep writes each model's in it).
- `announce`: `RunStarted` and the subset warning, worded once.
- `stop_point`, `divergence_message`: the words of an interrupted run.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..labs.analysis import analyse
from ..core.errors import SmtuiError, let_go, out_of_descriptors, out_of_memory
from ..core.events import BatchEnd, Listener, Message, RunStarted
from ..store.rundir import RunDir

STATUS_EVERY_S = 1.0   # how often a running run's status.json reports progress inside an epoch

SUBSET_WARNING = ("Using the embedded Fashion-MNIST subset (5,000 train / 1,000 test images), "
                  "not the full data set: accuracies are not comparable to the book's.")


def checkpoint_state(*, config: dict[str, Any], model: dict[str, Any], optimizer: dict[str, Any],
                     epoch: int, batch: int, rng: Any, partial: list[float],
                     partial_seconds: float, history: list[dict[str, float]], dataset: str,
                     num_train: int) -> dict[str, Any]:
    """A run's checkpoint: weights, optimizer state, config, progress (completed epochs, batches
    done in the next) and the shuffling RNG at the start of that epoch, loadable with
    `weights_only=True`. `runs.RunDir.save_checkpoint` adds the format's name and version."""
    return {"config": config, "model": model, "optimizer": optimizer, "epoch": epoch,
            "batch": batch, "rng": rng, "partial": list(partial),
            "partial_seconds": partial_seconds, "history": list(history), "dataset": dataset,
            "num_train": num_train}


def stop_point(epochs_done: int, batch: int) -> str:
    """Where a run stopped, in words: 'at epoch 3, batch 41', 'at the end of epoch 2'."""
    if batch:
        return f"at epoch {epochs_done + 1}, batch {batch}"
    if epochs_done:
        return f"at the end of epoch {epochs_done}"
    return "before the first batch"


def divergence_message(value: float, epochs_done: int, batch: int, hint: str,
                       kept: bool | None) -> str:
    """What a run whose loss became inf or nan tells the user; `kept` None: the run has no
    directory (a script's train_ch3 without out=), so nothing to say of checkpoints."""
    text = (f"loss became {value} at epoch {epochs_done + 1}, batch {batch}: training stopped "
            f"({hint})")
    if kept is None:
        return text
    return text + "; " + (f"last good checkpoint kept (end of epoch {epochs_done})" if kept
                          else "no checkpoint: it diverged in the first epoch")


def announce(listener: Listener, *, config: dict[str, Any], device: Any, data: Any,
             start_epoch: int, run: RunDir | None, threads: str,
             run_dirs: list[str] | None = None, start_batch: int = 0) -> None:
    """Tell the listener the run is set up (`RunStarted`), and warn when the data is the
    embedded subset."""
    listener(RunStarted(config, str(device), data.name, data.source, len(data.train_labels),
                        len(data.test_labels), start_epoch, str(run.path) if run else None,
                        data.test_images, data.test_labels, threads, list(run_dirs or []),
                        start_batch))
    if data.subset:
        listener(Message(SUBSET_WARNING, "warning"))


def open_run(run: RunDir, config: dict[str, Any], epochs: int, *, epoch: int = 0,
             before: Callable[[], None] | None = None, **extra: Any) -> RunDir:
    """Lock `run` for this process, then write its config (with `extra`) and its `starting`
    status; `before` runs first inside the same guard (a resume drops the metrics rows past its
    checkpoint). A failure is recorded in the run (status failed, lock released) and raised."""
    run.acquire_lock()
    try:
        if before is not None:
            before()
        run.write_config(config, **extra)
        run.write_status("starting", epoch=epoch, epochs=epochs)
    except BaseException as exc:
        raise RunLife(run, epochs).fail(exc) from None
    return run


def _inline(fn: Callable, *args: Any, **kw: Any) -> None:
    fn(*args, **kw)


class RunLife:
    """One run directory's record from start to end (a run without a directory records
    nothing: every method is then a no-op).

    `write(fn, *args)` performs each file write; writes of one run happen in the order asked.
    """

    def __init__(self, run: RunDir | None, epochs: int,
                 write: Callable[..., None] = _inline) -> None:
        self.run = run
        self.epochs = epochs
        self.write = write
        self.last_progress = time.monotonic()
        self.last_report: tuple[int, dict[str, Any]] | None = None   # for `beat`

    def status(self, state: str, epoch: int, **extra: Any) -> None:
        """Replace status.json: `epoch` completed epochs of `self.epochs`."""
        if self.run is not None:
            self.write(self.run.write_status, state, epoch=epoch, epochs=self.epochs, **extra)

    def progress(self, epoch: int, event: BatchEnd) -> None:
        """At most once every STATUS_EVERY_S: where the epoch is and at what pace, for `smtui
        view` in another terminal (`epoch` completed epochs; `event` the one going on). The
        latest is kept whether written or not: a pause's beat says where the run waits (it
        repeated a report a second older: epoch 140 of a run paused in epoch 152)."""
        if self.run is None:
            return
        self.last_report = (epoch, dict(
            batch=event.batch, num_batches=event.num_batches, examples=event.examples,
            examples_per_s=round(event.examples_per_s, 1), running_loss=event.loss,
            running_acc=event.acc, threads=event.threads))
        if time.monotonic() - self.last_progress <= STATUS_EVERY_S:
            return
        self.last_progress = time.monotonic()
        self.status("running", epoch, **self.last_report[1])

    def beat(self) -> None:
        """While the run is paused: its last progress again, marked paused, at most once every
        STATUS_EVERY_S. A viewer judges a run stalled by its own pace of writing
        (watch.py); a pause is the user's, not a stall."""
        if self.run is None or self.last_report is None or \
                time.monotonic() - self.last_progress <= STATUS_EVERY_S:
            return
        self.last_progress = time.monotonic()
        epoch, fields = self.last_report
        self.status("running", epoch, **fields, paused=True)

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Write a checkpoint (on request, or at a stop)."""
        if self.run is not None:
            self.write(self.run.save_checkpoint, state)

    def epoch_end(self, row: dict[str, float], state: dict[str, Any], probs: Any,
                  labels: Any) -> None:
        """The end of epoch `row['epoch']`: metrics first (a resume drops rows past its
        checkpoint), then the checkpoint, the analysis of the test predictions, the status."""
        if self.run is not None:
            self.write(_record_epoch, self.run, row, state, probs, labels, self.epochs)

    def end(self, state: str, epoch: int, message: str, reason: str | None = None, *,
            resumable: bool | None = None) -> None:
        """The run's last status: finished, stopped or diverged, with the command that resumes
        it when it can be resumed: a stopped or diverged run with a checkpoint (`resumable`
        says so where the checkpoint is still on its way to the disk)."""
        self.last_report = None   # no beat may say `running` after this
        if self.run is None:
            return
        extra: dict[str, Any] = {"reason": reason} if reason else {}
        if resumable is None:
            resumable = self.run.checkpoint_path.exists()
        if state in ("stopped", "diverged") and resumable:
            extra["resume"] = self.run.resume_command()
        self.status(state, epoch, message=message, **extra)

    def fail(self, exc: BaseException,
             explain: Callable[[BaseException], BaseException] = lambda exc: exc
             ) -> BaseException:
        """Record how an exception ended the run, and unlock it; returns the exception to raise:
        the user's own error where it is one (memory that did not fit; an error in a learner's
        code, as `explain` says), else `exc`. Written inline: the run's other writes are done or
        abandoned by now."""
        lost = out_of_descriptors(exc)
        if lost is not None:   # what the failed loader holds is let go, to record the failure
            let_go(exc)
        exc = lost or out_of_memory(exc) or explain(exc)
        if self.run is None:
            return exc
        try:
            if isinstance(exc, KeyboardInterrupt):
                self.run.write_status("stopped", message="interrupted")
            else:
                text = str(exc) if isinstance(exc, SmtuiError) else f"{type(exc).__name__}: {exc}"
                self.run.write_status("failed", message=text)
        except SmtuiError:
            pass   # the disk is full or gone: nothing more can be recorded
        finally:
            self.release()
        return exc

    def release(self) -> None:
        """Let another process train in this run directory."""
        if self.run is not None:
            self.run.release_lock()


def _record_epoch(run: RunDir, row: dict[str, float], state: dict[str, Any], probs: Any,
                  labels: Any, epochs: int) -> None:
    run.append_metrics(row)
    run.save_checkpoint(state)
    run.write_analysis({"epoch": row["epoch"], **analyse(probs, labels)})
    run.write_status("running", epoch=row["epoch"], epochs=epochs)
