"""Run directories: config, per-epoch metrics, checkpoints and a status file, never half-written.

Layout of a run directory:

    config.json      the TrainConfig, plus the data set actually used
    metrics.jsonl    one JSON object per epoch (whole lines, fsynced)
    metrics.csv      the same rows as CSV
    checkpoint.pt    model, optimizer, config, epoch, shuffling RNG (write to a temp file, rename)
    status.json      state, progress and pid, for watching a run from another terminal
    log.txt          everything the headless mode printed (the record when the terminal is gone)
    .lock            held (flock) by the process training in the directory; a second one is
                     refused, and the kernel releases it when that process ends, however it ends
    analysis.json    the latest epoch's confusion matrix, per-class and top-k accuracy, and
                     accuracy against coverage for a confidence threshold (reject option)

Every file is replaced atomically (write, fsync, rename) or appended by whole lines, so a kill -9
at any moment leaves the previous good version in place. Every JSON file is strict JSON (no NaN):
other programs read them. Files read back may come from elsewhere (another version, a hand edit,
another program), so readers check their shape and say what is wrong instead of failing later.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import stat
import time
from pathlib import Path
from typing import Any

from .errors import SmtuiError

METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_acc", "seconds", "lr")
# The process's figures over each epoch (machine.py) and the test set's share of its seconds, in
# metrics.jsonl; metrics.csv keeps the book's columns, which a resumed run's file already has.
MACHINE_FIELDS = ("cpu_percent", "memory_mb", "gpu_percent", "gpu_memory_mb", "eval_seconds")
CHECKPOINT_FORMAT = "smtui-checkpoint"
CHECKPOINT_VERSION = 1   # the version this smtui writes and reads
RUN_FORMAT_VERSION = 1   # of the run directory's files (config.json says which)
STATUS_SIZE = 2048   # status.json's padded size: room for the final status on a full disk


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
TMP_MARK = ".tmp"   # `.checkpoint.pt.tmp1234`: a write in progress of process 1234


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` that never writes through a link: a run directory may hold files another
    account planted (a `.lock` or `log.txt` linked to ~/.bashrc truncated or appended to it).
    A link is refused with one line."""
    try:
        return os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SmtuiError(f"{path} is a symbolic link: smtui does not write through links in "
                             "a run directory (remove it)") from None
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file and rename: readers see the old or the new file.
    The temp file is created afresh (never a link or a file left there); the rename replaces a
    link at `path` itself, never what it points to."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
        fd = open_no_follow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SmtuiError(f"cannot write {path}: {exc.strerror or exc}") from None


def _overwrite_in_place(path: Path, data: bytes) -> bool:
    """Write `data` over an existing file no shorter than it (padded with spaces to the file's
    length), needing no new disk blocks; False when that cannot be done."""
    try:
        fd = os.open(path, os.O_WRONLY | NOFOLLOW)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size < len(data):
            return False
        os.pwrite(fd, data.ljust(size), 0)
        os.fsync(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None: JSON has no NaN or Infinity, and
    `json.dumps` would otherwise write them as bare words that strict readers reject."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """Strict JSON text of `obj` (see `strict_json`)."""
    return json.dumps(strict_json(obj), allow_nan=False, **kw)


def atomic_write_json(path: Path, obj: Any) -> None:
    """`atomic_write_bytes` of pretty, strict JSON."""
    atomic_write_bytes(path, (dumps(obj, indent=2) + "\n").encode())


MAX_JSON_BYTES = 1 << 20    # config.json, status.json, settings.json: a few KB as smtui writes
MAX_LINE_BYTES = 1 << 16    # a metrics row is about 200 bytes
MAX_ROWS = 200_000          # rows of one metrics.jsonl a reader keeps (a listing stays small)


def regular_file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file, or None: a FIFO blocks a reader forever, a device
    (a link to /dev/zero) never ends."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else f"{path} is not a regular file"


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the JSON object in `path`, None), or (None, what is wrong) for a missing file, one that
    is not a regular file or is too large, bytes that are not UTF-8 JSON, JSON nested too
    deeply or that is not an object. What it holds comes back `inert` (console.py): no string
    from a file reaches a terminal with its control characters."""
    from .console import inert
    problem = regular_file_problem(path)
    if problem:
        return None, inert(problem)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            return None, inert(f"{path} is larger than {MAX_JSON_BYTES // 1024} KB: not a file "
                               "smtui wrote")
        value = json.loads(data.decode("utf-8"))
    except OSError as exc:
        return None, inert(f"{path} cannot be read: {exc.strerror or exc}")
    except UnicodeDecodeError:
        return None, inert(f"{path} is not UTF-8 text")
    except RecursionError:
        return None, inert(f"{path} is nested too deeply to be JSON smtui wrote")
    except ValueError as exc:
        return None, inert(f"{path} is not valid JSON ({exc})")
    if not isinstance(value, dict):
        return None, inert(f"{path} holds a JSON {type(value).__name__}, not an object")
    return inert(value), None


def bounded_lines(fh, limit: int = MAX_LINE_BYTES):
    """(line, end offset) for each line of a binary file from its position, a line longer than
    `limit` as (None, end offset): a 1 GB line is skipped, never held in memory."""
    at = fh.tell()
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):   # the rest of the long line
                at += len(line)
                line = fh.readline(limit + 1)
            at += len(line)
            yield None, at
            continue
        at += len(line)
        yield line, at


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_metrics_row(row: Any) -> str | None:
    """None when `row` is a usable metrics row, else what is wrong with it."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    for key in ("epoch", "train_loss", "train_acc", "test_acc"):
        if key not in row:
            return f"no {key}"
        if not _number(row[key]):
            return f"{key} is {row[key]!r}, not a number"
    if row["epoch"] != int(row["epoch"]) or row["epoch"] < 1:
        return f"epoch is {row['epoch']!r}, not a positive whole number"
    for key in ("seconds", "lr"):
        if key in row and not (_number(row[key]) or row[key] is None):
            return f"{key} is {row[key]!r}, not a number"
    return None


def process_alive(pid: int | None) -> bool:
    """True when a process with this pid exists (on this machine)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _pid(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


class RunDir:
    """One run's folder. Creating it checks that the output folder is writable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self.problems: list[str] = []   # what the last reads found wrong (malformed files)

    @classmethod
    def create(cls, out: str | Path, name: str) -> RunDir:
        """Make a new, uniquely named run directory under `out`."""
        out = Path(out).expanduser()
        if out.exists() and not out.is_dir():
            raise SmtuiError(f"output dir {out} is a file, not a folder")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            out.mkdir(parents=True, exist_ok=True)
            for i in range(1000):
                path = out / (f"{stamp}-{name}" + (f"-{i}" if i else ""))
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
            probe = path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SmtuiError(f"output dir {out} cannot be written: {exc.strerror or exc}") from None
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory (for resuming or watching)."""
        path = Path(path).expanduser()
        if path.is_file() and path.name.endswith(".pt"):
            path = path.parent
        if not path.is_dir():
            raise SmtuiError(f"run directory {path} does not exist")
        return cls(path)

    # --- files
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def csv_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def analysis_path(self) -> Path:
        return self.path / "analysis.json"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    def resume_command(self) -> str:
        """The command that continues this run, as a user would type it."""
        import shlex
        return f"smtui --no-ui --resume {shlex.quote(str(self.path))}"

    def write_analysis(self, analysis: dict[str, Any]) -> None:
        """Replace analysis.json: the latest epoch's confusion matrix, top-k, reject curve."""
        atomic_write_json(self.analysis_path, analysis)

    def write_config(self, config: dict[str, Any], **extra: Any) -> None:
        """Save the run's config (and facts such as the data set used), with the version of
        the run directory's format (RUN_FORMAT_VERSION)."""
        atomic_write_json(self.config_path, {**config, **extra,
                                             "run_format": RUN_FORMAT_VERSION})

    def read_config(self) -> dict[str, Any]:
        """The saved config.json, or {} when absent or malformed (noted in `problems`)."""
        config, problem = read_json_object(self.config_path)
        if problem and self.config_path.exists():
            self._note(problem)
        return config or {}

    def _note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def write_status(self, state: str, **fields: Any) -> None:
        """Replace status.json (state: running, finished, stopped, diverged, failed).

        The file is padded with spaces to STATUS_SIZE bytes, so that when the disk is full and
        the atomic replace cannot make its temporary file, the new status still reaches the
        disk by overwriting the old one in place, in blocks it already owns: a run that ends
        on a full disk never leaves `running` behind. A reader may then, for that one write,
        see it half-written; `read_status` takes such a file as malformed."""
        data = (dumps({"state": state, "pid": os.getpid(), "updated": time.time(), **fields},
                      indent=2) + "\n").encode()
        data = data.ljust(STATUS_SIZE)
        try:
            atomic_write_bytes(self.status_path, data)
        except SmtuiError:
            if not _overwrite_in_place(self.status_path, data):
                raise

    def state(self, status: dict[str, Any] | None = None) -> str:
        """The run's state as a tracker says it: status.json's, except that a run whose
        writing process is gone (killed with `kill -9`, its machine rebooted) while it said
        `starting` or `running` is `crashed`, wherever runs are listed or watched."""
        status = self.read_status() if status is None else status
        state = status.get("state", "")
        if state in ("starting", "running") and not process_alive(_pid(status.get("pid"))):
            return "crashed"
        return state

    def read_status(self) -> dict[str, Any]:
        """status.json, or {} when absent or malformed (noted in `problems`). A state that is not
        a string is dropped, so a reader never mistakes a malformed file for a live run."""
        status, problem = read_json_object(self.status_path)
        if problem:
            if self.status_path.exists():
                self._note(problem)
            return {}
        if not isinstance(status.get("state"), str):
            self._note(f"{self.status_path} has no state")
            status.pop("state", None)
        return status

    # --- the lock: one training process per run directory
    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    def acquire_lock(self) -> None:
        """Hold the run's lock until `release_lock` or the end of the process.

        An advisory `flock` on `.lock`: the kernel drops it when the holder exits, even by kill -9,
        so a crash cannot leave the run locked. A second process gets a one-line error.
        """
        try:
            import fcntl
        except ImportError:   # no flock on this platform: no protection, but no failure either
            return
        try:
            fd = open_no_follow(self.lock_path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise SmtuiError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise SmtuiError(f"run {self.path} is being trained by another process"
                             + (f" (pid {holder})" if holder.isdigit() else "")
                             + "; stop it first, or watch it with smtui view") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        self.remove_stale_temporaries()

    def remove_stale_temporaries(self) -> None:
        """Remove the temp files of writes that a killed process left (`kill -9` during a
        checkpoint's write left `.checkpoint.pt.tmpPID` for good): those of a process that is
        gone. Called once this process holds the run's lock."""
        try:
            entries = list(self.path.iterdir())
        except OSError:
            return
        for entry in entries:
            head, mark, pid = entry.name.rpartition(TMP_MARK)
            if head.startswith(".") and mark and pid.isdigit() and int(pid) != os.getpid() \
                    and not process_alive(int(pid)):
                try:
                    entry.unlink()
                except OSError:
                    pass

    def release_lock(self) -> None:
        """Let another process train in this directory (idempotent)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # closing the descriptor drops the flock
            self._lock_fd = None

    # --- metrics
    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to metrics.jsonl and metrics.csv as whole, fsynced lines."""
        line = dumps({k: row[k] for k in METRIC_FIELDS + MACHINE_FIELDS if k in row}) + "\n"
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        new_csv = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        if new_csv:
            writer.writeheader()
        writer.writerow(row)
        try:
            for path, text in ((self.metrics_path, line), (self.csv_path, buf.getvalue())):
                # One os.write of the whole text: a kill leaves the line whole or absent.
                fd = open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                try:
                    os.write(fd, text.encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SmtuiError(f"cannot write metrics in {self.path}: {exc.strerror or exc}") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every valid row of metrics.jsonl, in file order.

        A torn last line (a writer killed mid-append) is skipped silently; any other line that
        is not a metrics row (not JSON, not UTF-8, a missing or non-numeric field) is skipped and
        noted in `problems`, once per file, so a reader can warn without failing.
        """
        return self.read_metrics_from(0, whole=True)[0]

    def read_metrics_from(self, offset: int, *,
                          whole: bool = False) -> tuple[list[dict[str, Any]], int]:
        """The valid rows after byte `offset` of metrics.jsonl, and the offset to read from
        next: the end of the last complete line, so a viewer of a long run reads only what was
        appended (a line still being written waits for the next read). `whole`: to the end of
        the file, a last line without its newline included when it is a row."""
        from .console import inert
        if not self.metrics_path.exists():
            return [], offset
        problem = regular_file_problem(self.metrics_path)
        if problem:
            self._note(inert(problem))
            return [], offset
        rows, bad, first, end = [], 0, "", offset
        try:
            with open(self.metrics_path, "rb") as fh:
                fh.seek(offset)
                for i, (line, at) in enumerate(bounded_lines(fh)):
                    complete = line is None or line.endswith(b"\n")
                    if not complete and not whole:
                        break    # still being written: the next read takes it whole
                    end = at
                    if line is not None and not line.strip():
                        continue
                    row, reason = self._row(line, complete)
                    if reason == "torn":
                        continue
                    if reason:
                        bad += 1
                        first = first or (f"line {i + 1}: {reason}" if offset == 0 else reason)
                        continue
                    if len(rows) == MAX_ROWS:
                        self._note(inert(f"{self.metrics_path}: only its first {MAX_ROWS:,} "
                                         "rows are read"))
                        break
                    rows.append(inert(row))
        except OSError as exc:
            self._note(inert(f"{self.metrics_path} cannot be read: {exc.strerror or exc}"))
            return [], offset
        if bad:
            self._note(inert(f"{self.metrics_path}: skipped {bad} malformed row(s) ({first})"))
        return rows, end

    @staticmethod
    def _row(line: bytes | None, complete: bool) -> tuple[Any, str | None]:
        """(a line of metrics.jsonl as JSON, what is wrong with it as a row or None); "torn"
        for a last line a kill cut short (no newline after it, not JSON)."""
        if line is None:
            return None, f"longer than {MAX_LINE_BYTES // 1024} KB"
        try:
            row = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            return None, "not UTF-8 text"
        except (ValueError, RecursionError):
            return None, "not JSON" if complete else "torn"
        return row, valid_metrics_row(row)

    def truncate_metrics(self, epochs: int) -> None:
        """Keep only rows for epochs <= `epochs` (after resuming from an earlier checkpoint)."""
        rows = [r for r in self.read_metrics() if r.get("epoch", 0) <= epochs]
        atomic_write_bytes(self.metrics_path, "".join(dumps(r) + "\n" for r in rows).encode())
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.csv_path, buf.getvalue().encode())

    # --- checkpoints
    def save_checkpoint(self, state: dict[str, Any]) -> Path:
        """Write checkpoint.pt atomically; the previous checkpoint survives any failure."""
        import torch

        buf = io.BytesIO()
        torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())
        return self.checkpoint_path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only=True`); a clear error for anything else."""
    import pickle
    import zipfile

    import torch

    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise SmtuiError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError,
            ValueError) as exc:
        if "global" in str(exc).lower() and "weights only" in str(exc).lower():   # code
            raise SmtuiError(f"{path} holds code, not only weights: smtui runs no code from a "
                             "checkpoint (train the run again, or ask whoever wrote it)") \
                from None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SmtuiError(f"{path} is not a readable smtui checkpoint "
                         f"({_first_words(reason, 120)})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SmtuiError(f"{path} is not an smtui checkpoint")
    from .console import inert
    if isinstance(state.get("config"), dict):
        state["config"] = inert(state["config"])   # shown in the form and in error lines
    problem = checkpoint_problem(state)
    if problem:
        version = state.get("version")
        raise SmtuiError(f"{path} is an smtui checkpoint of format version {version!r} that "
                         f"this smtui (format version {CHECKPOINT_VERSION}) cannot use: "
                         f"{problem}")
    return state


def _first_words(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word's end, with "..." when cut (the
    refusal of a checkpoint ended "...in torch.load fr)")."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def checkpoint_problem(state: dict[str, Any]) -> str | None:
    """What makes a checkpoint unusable (another version of smtui, another tool, a hand edit),
    or None: every field the loops and the viewer read, with its type."""
    import torch

    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"its version is {version!r}, not a whole number"
    if version > CHECKPOINT_VERSION:
        return "it was written by a newer smtui"
    kinds = {"config": dict, "model": dict, "optimizer": dict, "epoch": int, "batch": int,
             "rng": torch.Tensor}
    for key, kind in kinds.items():
        if key not in state:
            return f"it has no {key}"
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            return f"its {key} is a {type(state[key]).__name__}, not a {kind.__name__}"
    if state["epoch"] < 0 or state["batch"] < 0:
        return f"its epoch and batch are {state['epoch']} and {state['batch']}"
    for name, value in state["model"].items():
        if not isinstance(value, torch.Tensor):
            return f"its model's {name} is a {type(value).__name__}, not a tensor"
    partial = state.get("partial", [0.0, 0.0, 0.0])
    if not (isinstance(partial, (list, tuple)) and len(partial) == 3 and
            all(isinstance(v, (int, float)) for v in partial)):
        return "its partial epoch is not three numbers"
    for key, kind in (("history", list), ("partial_seconds", (int, float)),
                      ("dataset", str), ("num_train", int)):
        if key in state and not isinstance(state[key], kind):
            return f"its {key} is a {type(state[key]).__name__}"
    return None
