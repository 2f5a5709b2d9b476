"""Run directories: config, per-epoch metrics, checkpoints and a status file, never half-written.

Layout of a run directory:

    config.json      the TrainConfig, plus the data set actually used
    metrics.jsonl    one JSON object per epoch (whole lines, fsynced)
    metrics.csv      the same rows as CSV
    checkpoint.pt    model, optimizer, config, epoch, shuffling RNG (write to a temp file, rename)
    status.json      state, progress and pid, for watching a run from another terminal
    analysis.json    the latest epoch's confusion matrix, per-class and top-k accuracy, and
                     accuracy against coverage for a confidence threshold (reject option)

Every file is replaced atomically (write, fsync, rename) or appended by whole lines, so a kill -9
at any moment leaves the previous good version in place.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import SmtuiError

METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_acc", "seconds", "lr")
CHECKPOINT_FORMAT = "smtui-checkpoint"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file and rename: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SmtuiError(f"cannot write {path}: {exc.strerror or exc}") from None


def atomic_write_json(path: Path, obj: Any) -> None:
    """`atomic_write_bytes` of pretty JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


class RunDir:
    """One run's folder. Creating it checks that the output folder is writable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

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

    def write_analysis(self, analysis: dict[str, Any]) -> None:
        """Replace analysis.json: the latest epoch's confusion matrix, top-k, reject curve."""
        atomic_write_json(self.analysis_path, analysis)

    def write_config(self, config: dict[str, Any], **extra: Any) -> None:
        """Save the run's config (and facts such as the data set used)."""
        atomic_write_json(self.config_path, {**config, **extra})

    def read_config(self) -> dict[str, Any]:
        """The saved config.json, or {} when absent or unreadable."""
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, ValueError):
            return {}

    def write_status(self, state: str, **fields: Any) -> None:
        """Replace status.json (state: running, finished, stopped, diverged, failed)."""
        atomic_write_json(self.status_path, {"state": state, "pid": os.getpid(),
                                             "updated": time.time(), **fields})

    def read_status(self) -> dict[str, Any]:
        """status.json, or {} when absent or unreadable."""
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    # --- metrics
    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to metrics.jsonl and metrics.csv as whole, fsynced lines."""
        line = json.dumps({k: row[k] for k in METRIC_FIELDS if k in row}) + "\n"
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        new_csv = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        if new_csv:
            writer.writeheader()
        writer.writerow(row)
        try:
            for path, text in ((self.metrics_path, line), (self.csv_path, buf.getvalue())):
                # One os.write of the whole text: a kill leaves the line whole or absent.
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, text.encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SmtuiError(f"cannot write metrics in {self.path}: {exc.strerror or exc}") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every complete row of metrics.jsonl (a torn last line is skipped)."""
        rows = []
        try:
            text = self.metrics_path.read_text()
        except OSError:
            return rows
        for line in text.splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def truncate_metrics(self, epochs: int) -> None:
        """Keep only rows for epochs <= `epochs` (after resuming from an earlier checkpoint)."""
        rows = [r for r in self.read_metrics() if r.get("epoch", 0) <= epochs]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())
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
        torch.save({"format": CHECKPOINT_FORMAT, "version": 1, **state}, buf)
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
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SmtuiError(f"{path} is not a readable smtui checkpoint ({reason[:120]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SmtuiError(f"{path} is not an smtui checkpoint")
    return state
