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
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from ..core.errors import SmtuiError
from .checkpoint import CHECKPOINT_NAME, save_checkpoint
from .files import (
    MAX_LINE_BYTES,
    MAX_ROWS,
    NOFOLLOW,
    TMP_MARK,
    atomic_write_bytes,
    atomic_write_json,
    bounded_lines,
    dumps,
    open_no_follow,
    overwrite_in_place,
    read_json_object,
    regular_file_problem,
)

METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_acc", "seconds", "lr")
# The process's figures over each epoch (meter.py) and the test set's share of its seconds, in
# metrics.jsonl; metrics.csv keeps the book's columns, which a resumed run's file already has.
MACHINE_FIELDS = ("cpu_percent", "memory_mb", "gpu_percent", "gpu_memory_mb", "eval_seconds")
RUN_FORMAT_VERSION = 1   # of the run directory's files (config.json says which)
STATUS_SIZE = 2048   # status.json's padded size: room for the final status on a full disk




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


LOCK_RETRY_S = 0.5   # how long a trainer tries a lock that a reader may hold for an instant


def _flock_soon(fd: int, operation: int) -> None:
    """`flock(fd, operation)` (non-blocking), tried again for LOCK_RETRY_S while it would
    block; the last failure is raised."""
    import fcntl

    deadline = time.monotonic() + LOCK_RETRY_S
    while True:
        try:
            fcntl.flock(fd, operation)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class RunDir:
    """One run's folder. Creating it checks that the output folder is writable."""

    def __init__(self, path: str | Path) -> None:
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
        return self.path / CHECKPOINT_NAME

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
            if not overwrite_in_place(self.status_path, data):
                raise

    def state(self, status: dict[str, Any] | None = None) -> str:
        """The run's state as a tracker says it: status.json's, except that a run that said
        `starting` or `running` while nobody holds its lock is `crashed` (killed with `kill -9`,
        its machine rebooted), wherever runs are listed or watched. The lock is the truth: a
        pid says nothing across PID namespaces (a container's pid 1) or after a reboot (the
        pid another process's now). Where the lock cannot be asked, the pid is."""
        status = self.read_status() if status is None else status
        state = status.get("state", "")
        if state in ("starting", "running"):
            held = self.lock_held()
            if held is False or (held is None and not process_alive(_pid(status.get("pid")))):
                return "crashed"
        return state

    def read_status(self) -> dict[str, Any]:
        """status.json, or {} when absent or malformed (noted in `problems`). A state that is not
        a string is dropped, so a reader never mistakes a malformed file for a live run."""
        status, problem = read_json_object(self.status_path)
        if status is None:
            if problem and self.status_path.exists():
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

    def lock_held(self) -> bool | None:
        """Whether a process holds the run's lock now, this one included; None where that
        cannot be asked (no flock here, a lock file this user may not open). Asked by taking a
        shared lock and dropping it at once: it never waits, and a trainer that meets it in
        that instant tries again (`acquire_lock`)."""
        try:
            import fcntl
        except ImportError:
            return None
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | NOFOLLOW)
        except FileNotFoundError:
            return False
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
        finally:
            os.close(fd)   # and with it the shared lock
        return False

    def acquire_lock(self) -> None:
        """Hold the run's lock until `release_lock` or the end of the process.

        An advisory `flock` on `.lock`: the kernel drops it when the holder exits, even by kill -9,
        so a crash cannot leave the run locked. A second process gets a one-line error. A reader
        asking whether the run is held (`lock_held`) holds it shared for an instant: the lock
        is tried again for LOCK_RETRY_S before the run counts as another process's.
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
            _flock_soon(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
            raise SmtuiError(
                f"cannot write metrics in {self.path}: {exc.strerror or exc}"
            ) from None

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
        from ..core.console import inert
        if not self.metrics_path.exists():
            return [], offset
        problem = regular_file_problem(self.metrics_path)
        if problem:
            self._note(inert(problem))
            return [], offset
        rows: list[dict[str, Any]] = []
        bad, first, end = 0, "", offset
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
        return save_checkpoint(self.checkpoint_path, state)
