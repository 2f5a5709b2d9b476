"""Follow a run directory that another process is writing: the core of `smtui view`.

`RunWatcher.poll()` reads what changed since the last call (config, new metrics rows, status,
a newer checkpoint) and returns the same events the training loop emits, so the TUI draws a
watched run with the code that draws its own. Files are only read, never written; each is replaced
atomically or appended by whole lines by the writer, so a read never sees half a file. Files
from elsewhere may be malformed: bad rows are skipped and each problem is reported once, as a
warning, while everything valid is still drawn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.config import TrainConfig, is_model_file
from ..core.events import BatchEnd, EpochEnd, Message, RunEnded, RunStarted
from .catalog import newest_run, recorded_time
from .rundir import MACHINE_FIELDS, RUN_FORMAT_VERSION, RunDir

if TYPE_CHECKING:
    from ..core.data import FashionMNIST


@dataclass
class CheckpointPredictions:
    """Test-set probabilities computed from the run's latest checkpoint."""

    epoch: int
    probs: Any
    templates: Any = None   # (W, b) of a linear model, for the weights tab


STALL_S = 60.0       # before a run's own pace is known
STALL_TIMES = 10     # then: quiet for this many times its usual interval between writes,
STALL_MIN_S = 5.0    # and at least this long
PACE_SEEN = 3        # intervals seen before the pace is the run's own


class Pace:
    """How often a running run writes its status, as a watcher sees it: the median of the
    intervals between the writes it saw (an epoch's evaluation, a checkpoint, make a few long
    ones). A run is stalled when it has been quiet for STALL_TIMES its usual interval and at
    least STALL_MIN_S; until PACE_SEEN intervals are known, after STALL_S. A run that writes
    several times a second and then stops for 12 s is stalled; one whose batches take a minute
    each is not. A paused run keeps writing (lifecycle.RunLife.beat)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.intervals: list[float] = []

    def saw(self, status: dict) -> None:
        """A status read: its time of writing, when new, adds an interval."""
        updated = recorded_time(status)
        if updated is None:
            return
        if self.last is not None and updated > self.last:
            self.intervals = (self.intervals + [updated - self.last])[-20:]
        self.last = updated if self.last is None else max(self.last, updated)

    def usual(self) -> float | None:
        """The run's usual interval between writes; None until PACE_SEEN were seen."""
        if len(self.intervals) < PACE_SEEN:
            return None
        return sorted(self.intervals)[len(self.intervals) // 2]

    def limit(self) -> float:
        """Seconds of quiet after which the run is stalled."""
        usual = self.usual()
        return STALL_S if usual is None else max(STALL_MIN_S, STALL_TIMES * usual)

    def stalled_for(self, status: dict, now: float | None = None) -> float | None:
        """Seconds since the run last wrote its status, when past `limit()`, else None."""
        updated = recorded_time(status)
        if updated is None:
            return None
        quiet = (time.time() if now is None else now) - updated
        return quiet if quiet > self.limit() else None


def _said_inertly(event):
    """`event` with its words (a Message's text, a RunEnded's message) made inert."""
    from dataclasses import replace

    from ..core.console import inert
    if isinstance(event, Message):
        return replace(event, text=inert(event.text))
    if isinstance(event, RunEnded):
        return replace(event, message=inert(event.message))
    return event


class RunWatcher:
    """Turns a run directory's files into training events, one poll at a time."""

    def __init__(self, path: str | Path) -> None:
        self.root = Path(path).expanduser()
        self.run = RunDir(self.root)
        self.started = False
        self.rows_seen = 0        # rows turned into events
        self.offset = 0           # bytes of metrics.jsonl read so far
        self.rows_read = 0        # rows in those bytes
        self.last_state: str | None = None
        self.checkpoint_mtime = 0.0
        self.data: FashionMNIST | None = None   # the test images, once read
        self.config: TrainConfig | None = None
        self.config_seen: tuple[int, int] | None = None   # config.json's (mtime, size) read
        self.reported: set[str] = set()   # problems already reported: each is said once
        self.pace = Pace()   # how often the run writes its status: when it is stalled

    def poll(self, evaluate: bool = True) -> list:
        """Events for everything new in the run directory since the last poll; what they say
        in words is `inert` (paths and messages from another account's files)."""
        return [_said_inertly(event) for event in self._poll(evaluate)]

    def _poll(self, evaluate: bool) -> list:
        events: list = []
        if not self.started:
            self.run = RunDir(self._resolve())
        if not self.run.path.is_dir() or not self.run.config_path.is_file():
            if self.last_state != "waiting":
                self.last_state = "waiting"
                events.append(Message(f"waiting for a run to start in {self.run.path}"))
            return events
        if not self.started:
            events += self._start()
        elif self._config_changed():   # resumed elsewhere, with other settings: said again
            events += self._announce(self.run.read_config())
        status = self.run.read_status()
        for row in self._new_rows():
            events.append(EpochEnd(int(row["epoch"]), row["train_loss"], row["train_acc"],
                                   row["test_acc"], row.get("seconds") or 0.0,
                                   row.get("lr") or 0.0, None, None, {
                                       k: row[k] for k in MACHINE_FIELDS
                                       if isinstance(row.get(k), (int, float))}))
        state = self.run.state(status) if status.get("state") else "running"
        if state == "starting":
            state = "running"
        self.pace.saw(status)
        quiet = self.pace.stalled_for(status) if state == "running" else None
        if quiet is not None:
            state = "stalled"   # its lock is held, its record stopped moving
        elif state == "running" and status.get("paused") is True:
            state = "paused"    # by its user (lifecycle.RunLife.beat): alive, not training
        epoch, batch, num_batches = (_int(status.get(k)) for k in ("epoch", "batch",
                                                                   "num_batches"))
        moving = state == "running" or (state == "paused" and self.last_state != "paused")
        if moving and epoch is not None and batch is not None and \
                num_batches is not None and num_batches > 0:   # a pause: where it waits
            speed = _float(status.get("examples_per_s"))   # nan: a writer without the pace
            events.append(BatchEnd(epoch + 1, batch, num_batches,
                                   _int(status.get("examples")) or 0,
                                   speed if speed == speed else 0.0,
                                   _float(status.get("running_loss")),
                                   _float(status.get("running_acc")),
                                   _int(status.get("threads")) or 0))
        for problem in self.run.problems:
            if problem not in self.reported:
                self.reported.add(problem)
                events.append(Message(f"skipped what is malformed: {problem}", "warning"))
        self.run.problems.clear()
        if state != self.last_state:
            self.last_state = state
            if state == "stalled":
                events.append(RunEnded("stalled", self.rows_seen, (
                    f"nothing written for {quiet:.0f} s{self._usually()} while its lock is "
                    "held: "
                    f"its process (pid {status.get('pid')} where it runs) is stopped (kill "
                    "-STOP, ctrl+z) or stuck")))
            elif state == "paused":
                events.append(RunEnded("paused", self.rows_seen, "paused where it runs "
                                       "(space there trains on)"))
            elif state != "running":
                message = status.get("message")
                events.append(RunEnded(state, self.rows_seen, message if isinstance(message, str)
                                       and message else
                                       ("the training process is gone without saying why"
                                        if state == "crashed" else state)))
        if evaluate:
            events += self._evaluate_checkpoint()
        return events

    def _usually(self) -> str:
        usual = self.pace.usual()
        return f" (it wrote every {usual:.2g} s)" if usual is not None else ""

    def _new_rows(self) -> list[dict[str, Any]]:
        """Rows appended to metrics.jsonl since the last poll: only those bytes are read (a run
        of 100,000 epochs made every poll re-read the whole file). A file that shrank, rewritten
        by a resume from an earlier checkpoint, is read again from its start, and rows already
        shown are not shown twice."""
        try:
            size = self.run.metrics_path.stat().st_size
        except OSError:
            return []
        if size < self.offset:
            self.offset = self.rows_read = 0
        rows, self.offset = self.run.read_metrics_from(self.offset)
        first = self.rows_read
        self.rows_read += len(rows)
        new = rows[max(0, self.rows_seen - first):]
        self.rows_seen = max(self.rows_seen, self.rows_read)
        return new

    def _resolve(self) -> Path:
        """The run to follow: `root` itself, or the newest run inside it (an --out folder) by
        the runs' own records, never their files' times, which a copy reorders; a run that has
        not started yet is picked up when it appears."""
        if RunDir(self.root).config_path.is_file() or not self.root.is_dir():
            return self.root
        return newest_run(self.root) or self.root

    def _config_changed(self) -> bool:
        """Whether config.json was written since it was last read (a resume writes it anew:
        the epochs it goes to, the options it changed)."""
        try:
            stat = self.run.config_path.stat()
        except OSError:
            return False
        return (stat.st_mtime_ns, stat.st_size) != self.config_seen

    def _announce(self, saved: dict) -> list:
        """The run's RunStarted, with the settings `saved` (config.json as read now); without
        test images where none could be read here: the settings, curves and table are the
        run's own all the same (a copied run showed the viewer's defaults)."""
        self._note_config()
        self.config, _ = TrainConfig.from_saved(saved)
        device = saved.get("device_used")   # what the run's --device (auto) chose
        device = device if isinstance(device, str) and device else self.config.device
        data = self.data
        if data is None:
            dataset, source = saved.get("dataset_used"), saved.get("data_source")
            return [RunStarted(self.config.to_dict(), device,
                               dataset if isinstance(dataset, str) else "full",
                               source if isinstance(source, str) else "", 0, 0, 0,
                               str(self.run.path), None, None)]
        return [RunStarted(self.config.to_dict(), device, data.name, data.source,
                           len(data.train_labels), len(data.test_labels), 0,
                           str(self.run.path), data.test_images, data.test_labels)]

    def _note_config(self) -> None:
        try:
            stat = self.run.config_path.stat()
            self.config_seen = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            pass

    def _start(self) -> list:
        saved = self.run.read_config()
        self.config, replaced = TrainConfig.from_saved(saved)
        self.started = True
        events: list = []
        if replaced:
            version = saved.get("run_format", "none")
            events.append(Message(f"{self.run.config_path} (run format version {version}; "
                                  f"this smtui reads {RUN_FORMAT_VERSION}): ignored invalid "
                                  f"{', '.join(replaced)} (defaults shown)", "warning"))
        self.data, problem = self._test_images(saved)
        if problem:   # the watcher still shows the run, its images apart
            events.append(Message(f"test images unavailable: {problem}", "warning"))
        return events + self._announce(saved)

    def _test_images(self, saved: dict) -> tuple[FashionMNIST | None, str | None]:
        """(the run's test split, None), or (None, why not): the embedded subset of this
        install for a subset run (a copied run records another install's path, as --resume
        already knows), the recorded folder for a full run, else this machine's full data."""
        from ..core import data as data_mod

        source = saved.get("data_source")
        try:
            if saved.get("dataset_used") == "subset":
                return data_mod.read_folder(data_mod.subset_dir(), subset=True), None
            if isinstance(source, str) and source and Path(source).is_dir():
                return data_mod.read_folder(Path(source)), None
            return data_mod.load_fashion_mnist(None, "full"), None
        except Exception as exc:
            return None, str(exc)

    def _evaluate_checkpoint(self) -> list:
        """Predictions of a checkpoint newer than the last one evaluated."""
        path = self.run.checkpoint_path
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return []
        if mtime <= self.checkpoint_mtime or self.data is None or self.config is None:
            return []
        self.checkpoint_mtime = mtime
        if is_model_file(self.config.model):   # the learner's code: not run by a viewer
            problem = (f"predictions are not drawn for a run of {self.config.model}: the viewer "
                       "does not run your code (the curves are the run's own)")
            if problem in self.reported:
                return []
            self.reported.add(problem)
            return [Message(problem)]
        from ..core.errors import SmtuiError
        from ..core.models import build_model
        from .checkpoint import load_checkpoint
        from ..core.metrics import predict_probs
        from ..core.data import TensorLoader

        try:
            state = load_checkpoint(path)
            config, _ = TrainConfig.from_saved(state.get("config") or {})
            model = build_model(config.model, config.softmax,
                                num_inputs=(config.resize or 28) ** 2)
            model.net.load_state_dict(state["model"])
            epoch = int(state.get("epoch", 0))
        except (SmtuiError, RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"checkpoint not readable: {exc}"
            if problem in self.reported:
                return []
            self.reported.add(problem)
            return [Message(problem, "warning")]
        loader = TensorLoader(self.data.test_images, self.data.test_labels, 1000, shuffle=False,
                              resize=config.resize)
        from ..core.models import class_templates
        return [CheckpointPredictions(epoch, predict_probs(model, loader),
                                      class_templates(model.net))]


def _int(value: Any) -> int | None:
    """`value` when it is a whole number (status.json may come from elsewhere), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else float("nan")
