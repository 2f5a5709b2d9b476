"""Runs on disk, found and compared: the core of `smtui runs`, `smtui compare` and the Runs tab.

A run directory is read the way the viewer reads it: whatever is malformed (a row, a file from
another tool) is skipped and listed in `problems`, and what is valid is kept. `find_runs` takes
run directories and folders of runs alike, as `smtui view` does. What tells runs apart is named
from their configs (`names_by_difference`, `differing_options`): two runs that differ in batch
size are "batch 64" and "batch 256", as `dvc exp show` and `mlflow experiments` show them.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.console import inert
from ..core.errors import SmtuiError
from .rundir import RunDir
from .files import strict_json

# Config fields that tell runs apart in a legend, with their short names.
DISTINGUISHING = (("name", ""), ("model", ""), ("softmax", ""), ("optimizer", ""), ("lr", "lr"),
                  ("batch_size", "batch"), ("epochs", "epochs"), ("weight_decay", "wd"),
                  ("schedule", ""), ("resize", "resize"), ("seed", "seed"))
# Fields that say where a run ran or how it was read, not what it trained: never "an option
# that differs".
BOOKKEEPING = {"out", "data_dir", "device", "threads", "num_workers", "tensorboard", "loader",
               "run_format", "dataset_used", "data_source", "device_used", "model_sha256",
               "gradient", "sweep", "resumed"}


USED = {"dataset": "dataset_used", "device": "device_used"}   # an option: what the run used


@dataclass
class RunSummary:
    """One run directory as its files tell it."""

    name: str                                   # the directory's name
    config: dict
    epochs: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    status: str = ""
    problems: list[str] = field(default_factory=list)   # malformed files met while reading
    train_loss: list[float] = field(default_factory=list)
    path: str = ""
    updated: float | None = None    # when the run last wrote its status; None: it never said

    @classmethod
    def from_dir(cls, path: str | Path):
        """Read a run directory (config.json, metrics.jsonl, status.json). Malformed rows and
        files are skipped and listed in `problems`; what is valid is kept."""
        run = RunDir(Path(path))
        rows = run.read_metrics()
        config = run.read_config()
        # What the run used, where it recorded it, in place of what was asked: `dataset auto`
        # beside a subset run left accuracies of two data sets side by side unmarked.
        config.update({asked: config[used] for asked, used in USED.items()
                       if isinstance(config.get(used), str) and config[used]})
        status = run.read_status()
        updated = recorded_time(status)
        return cls(inert(run.path.name), config, [r["epoch"] for r in rows],
                   [r["test_acc"] for r in rows], run.state(status), list(run.problems),
                   [r["train_loss"] for r in rows], str(run.path), updated)

    @property
    def key(self) -> str:
        """Which run this is: its directory however it was spelled, else its name (a run not
        on disk). What lists a run once, pins it and hides it."""
        return run_identity(self.path) if self.path else self.name

    @property
    def given_name(self) -> str | None:
        """The name given with --name, if any."""
        name = self.config.get("name")
        return name if isinstance(name, str) and name else None

    @property
    def best(self) -> float | None:
        return max(self.test_acc) if self.test_acc else None

    @property
    def final(self) -> float | None:
        return self.test_acc[-1] if self.test_acc else None

    def age(self, now: float | None = None) -> str:
        """Time since the run last wrote, in the largest unit: '40s', '12m', '3h', '5d'."""
        if self.updated is None:
            return "–"
        seconds = max(0.0, (time.time() if now is None else now) - self.updated)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{int(seconds // size)}{unit}"
        return f"{int(seconds)}s"


def is_run_dir(path: Path) -> bool:
    run = RunDir(path)
    return run.config_path.is_file() or run.metrics_path.is_file()


def runs_in(folder: Path, skipped: list[str] | None = None) -> list[Path]:
    """The run directories in an --out folder, by name: those in it, and those of the sweeps
    in it (a sweep keeps its runs in a folder of its own: `smtui compare` takes that folder).
    A folder in it that this user may not read (a colleague's run, trained under umask 077 in
    a shared folder) is left out, and said in `skipped`: it never fails the listing."""
    runs = []
    for p in sorted(folder.iterdir()):
        try:
            if not p.is_dir():
                continue
            if is_run_dir(p):
                runs.append(p)
            elif not p.is_symlink():
                runs += sorted(q for q in p.iterdir() if q.is_dir() and not q.is_symlink()
                               and is_run_dir(q))
        except OSError as exc:
            if skipped is not None:
                skipped.append(f"{inert(str(p))} cannot be read ({exc.strerror or exc}): "
                               "skipped")
    return runs


def recorded_time(status: dict) -> float | None:
    """When the run last wrote its record: status.json's `updated`, which a copy keeps; None
    where the run says none. Never a file's or folder's time: a copy, a backup restored or
    a `touch` makes those the copier's own."""
    updated = status.get("updated")
    return float(updated) if isinstance(updated, (int, float)) and \
        not isinstance(updated, bool) else None


def written_order(updated: float | None, name: str) -> tuple[float, str]:
    """Runs from the least recently written to the most; those that never said when, first,
    by name (their start time)."""
    return (float("-inf") if updated is None else updated, name)


def newest_run(folder: Path) -> Path | None:
    """The run of an --out folder that last wrote its record, or, among runs that say
    nothing, the last by name (its start time); None in a folder without runs."""
    runs = [p for p in runs_in(folder) if RunDir(p).config_path.is_file()]
    return max(runs, key=lambda p: written_order(recorded_time(RunDir(p).read_status()),
                                                 p.name), default=None)


def sweep_folder(run_dirs: list[str]) -> str | None:
    """The folder that holds these run directories and no other (a sweep's), else None."""
    parents = {str(Path(d).parent) for d in run_dirs}
    if len(parents) != 1:
        return None
    folder = parents.pop()
    try:
        return folder if {str(p) for p in runs_in(Path(folder))} == set(run_dirs) else None
    except OSError:
        return None


@functools.lru_cache(maxsize=4096)
def run_identity(path: str) -> str:
    """One run directory, however it is spelled (runs/X, ./runs/X/, /home/u/runs/X, through a
    link): its real path. Keyed by the spelling, one run resumed by its absolute path stayed
    a second, stale row beside the one listed from a relative --out."""
    return os.path.realpath(path)


def find_runs(paths: list[str], skipped: list[str] | None = None) -> list[Path]:
    """The run directories named by `paths`: each a run directory, or a folder of them (an
    --out folder), in order, each once. Anything else is an error naming it; a run inside a
    folder that cannot be read is said in `skipped` (runs_in)."""
    found: list[Path] = []
    for text in paths:
        try:
            seen = {run_identity(str(run)) for run in found}
            found += [run for run in _runs_at(text, skipped)
                      if run_identity(str(run)) not in seen]
        except OSError as exc:   # a name the system refuses (too long, ...)
            raise SmtuiError(f"{text}: {exc.strerror or exc}") from None
    return found


def _runs_at(text: str, skipped: list[str] | None = None) -> list[Path]:
    """`text` itself when it is a run directory, else the run directories inside it."""
    path = Path(text).expanduser()
    if path.is_file():
        raise SmtuiError(f"{text} is a file, not a run directory (a folder with "
                         "config.json, or an --out folder of runs)")
    if not path.is_dir():
        raise SmtuiError(f"{text} does not exist")
    if is_run_dir(path):
        return [path]
    runs = runs_in(path, skipped)
    if not runs:
        raise SmtuiError(f"{text} is not a run directory and holds none (no config.json "
                         "or metrics.jsonl)")
    return runs


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def names_by_difference(configs: list[dict], fallback: list[str]) -> list[str]:
    """Names for runs from what differs between their configs ("lr 0.1", "lr 0.03"; "mlp,
    adam"). The fields are chosen to tell the runs apart (first the one that splits them into
    most groups), two at least where two differ; a --name of its own wins, and one that
    several runs share (a sweep's) comes first. A field a config lacks (a file from elsewhere)
    names nothing: never "None". Runs nothing tells apart keep their fallback names."""
    given = [c.get("name") if isinstance(c.get("name"), str) and c.get("name") else None
             for c in configs]
    differing = [(k, short) for k, short in DISTINGUISHING if k != "name"
                 and len({repr(c.get(k)) for c in configs}) > 1]

    def labels(fields: list[tuple[str, str]], bare: bool = False) -> list[str]:
        """Each run's name from `fields`; `bare`: a run they say nothing of is "", not its
        fallback (a fallback tells every run apart and would end the choosing before it began)."""
        fields = [f for f in differing if f in fields]   # in the order of DISTINGUISHING
        names = []
        for config, name, own in zip(configs, fallback, given):
            if own is not None and given.count(own) == 1:
                names.append(own)
                continue
            parts = ([own] if own is not None else []) + [
                f"{short} {_shown(config[key])}".strip() for key, short in fields
                if config.get(key) is not None]
            names.append(", ".join(parts) if parts else "" if bare else name)
        return names

    def groups(fields: list[tuple[str, str]]) -> int:
        return len(set(labels(fields, bare=True)))

    chosen: list[tuple[str, str]] = []
    while groups(chosen) < len(configs) and len(chosen) < len(differing):
        best = max((f for f in differing if f not in chosen), key=lambda f: groups(chosen + [f]))
        if groups(chosen + [best]) <= groups(chosen):
            break
        chosen.append(best)
    chosen += [f for f in differing if f not in chosen][:max(0, 2 - len(chosen))]
    names = labels(chosen)
    # Runs of the same settings: their fallback (the Runs table's name) tells them apart.
    names = [f"{n} ({f})" if names.count(n) > 1 and n != f else n
             for n, f in zip(names, fallback)]
    return names


def differing_options(configs: list[dict]) -> list[str]:
    """The config fields whose values differ between runs (where a run ran excluded), in the
    config's own order."""
    keys: list[str] = []
    for config in configs:
        keys += [k for k in config if k not in keys and k not in BOOKKEEPING and k != "name"]
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def comparison(runs: list[RunSummary]) -> list[dict[str, Any]]:
    """One row per run: its name, the options that differ, how far it got, its final and best
    test accuracy and final train loss."""
    configs = [r.config for r in runs]
    options = differing_options(configs)
    labels = names_by_difference(configs, [r.name for r in runs])
    rows = []
    for run, label in zip(runs, labels):
        rows.append({"run": run.name, "label": label, "path": run.path,
                     **{key: run.config.get(key) for key in options},
                     "state": run.status or None, "epochs_done": len(run.epochs),
                     "final_test_acc": run.final, "best_test_acc": run.best,
                     "final_train_loss": run.train_loss[-1] if run.train_loss else None})
    return rows


def listing(runs: list[RunSummary], now: float | None = None) -> list[dict[str, Any]]:
    """`smtui runs`: one row per run with its name, state, model, key options, epochs done of
    planned, best test accuracy and age."""
    rows = []
    for run in runs:
        c = run.config
        rows.append({"run": run.name, "name": run.given_name, "path": run.path,
                     "state": run.status or None, "model": c.get("model"),
                     "optimizer": c.get("optimizer"), "lr": c.get("lr"),
                     "batch_size": c.get("batch_size"), "epochs_done": len(run.epochs),
                     "epochs": c.get("epochs"), "best_test_acc": run.best,
                     "updated": run.updated, "age": run.age(now)})
    return rows


def fit_columns(rows: list[dict[str, Any]], columns: list[str], width: int | None,
                drop: tuple[str, ...]) -> list[str]:
    """`columns` less those of `drop`, in its order, until the table fits `width` (a
    terminal's; None: all of them)."""
    columns = list(columns)
    for name in drop:
        table = render(rows, "table", columns)
        if width is None or max(map(len, table.splitlines()), default=0) <= width:
            break
        if name in columns:
            columns.remove(name)
    return columns


def render(rows: list[dict[str, Any]], fmt: str, columns: list[str] | None = None) -> str:
    """Rows as `json` (every field), `csv` or an aligned plain `table` (the `columns` given,
    every field by default). Values are shown as they are: names come from files."""
    if fmt == "json":
        return json.dumps(strict_json(rows), indent=2, ensure_ascii=False) + "\n"
    columns = columns or (list(rows[0]) if rows else [])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[row.get(c) if row.get(c) is not None else "" for c in columns]
                          for row in rows])
        return out.getvalue()
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """A table's cell: a number to four significant digits (0.9709), where JSON and CSV carry
    it as recorded (0.9708964920043945); a name from a file with its control characters
    shown as '?'."""
    if value is None:
        return "–"
    text = f"{value:.4g}" if isinstance(value, float) else _shown(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)   # a name from a file


# --- filters: "lr>0.05 model=mlp", as a tracker's search box takes them
FILTER = re.compile(r"\s*([A-Za-z_][\w-]*)\s*(>=|<=|!=|=|>|<|~)\s*([^\s,]+)\s*,?")
SHORT_KEYS = {short: key for key, short in DISTINGUISHING if short} | {
    "acc": "best_test_acc", "best": "best_test_acc", "state": "state", "status": "state",
    "ep": "epochs", "wd": "weight_decay", "batch": "batch_size"}


@dataclass
class Condition:
    key: str
    op: str
    value: str

    def holds(self, fields: dict[str, Any]) -> bool:
        """True when the run's `fields` (its config, state and best accuracy) satisfy this."""
        have = fields.get(self.key)
        if have is None:
            return self.op == "!="
        if self.op == "~":
            return self.value.lower() in str(have).lower()
        try:
            return compared(float(have), float(self.value), self.op)
        except (TypeError, ValueError):   # not numbers: compared as text
            return compared(str(have).lower(), self.value.lower(), self.op)


def compared(a: Any, b: Any, op: str) -> bool:
    """`a op b` for a filter's operator (=, !=, >, <, >=, <=), on two numbers or two texts."""
    return {"=": a == b, "!=": a != b, ">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]


def parse_filter(text: str) -> list[Condition]:
    """Conditions from text such as "lr>0.05 model=mlp" (`~` for "contains"); a key is a
    config field, its short name (batch, wd), state, or acc (the best test accuracy). Raises
    ValueError naming what it cannot read."""
    conditions, at = [], 0
    text = text.strip()
    while at < len(text):
        found = FILTER.match(text, at)
        if not found:
            raise ValueError(f"cannot read {text[at:].split()[0]!r}: write key=value, key>value, "
                             "key<value or key~text, e.g. lr>0.05 model=mlp")
        key = found[1].replace("-", "_").lower()
        key = SHORT_KEYS.get(key, key)
        if key not in filter_keys():
            raise ValueError(f"unknown key {found[1]!r}: filter by "
                             + ", ".join(FILTER_SHOWN) + " or any option (weight_decay, seed, ...)")
        conditions.append(Condition(key, found[2], found[3]))
        at = found.end()
    return conditions


# The keys a filter names first: the Runs table's own columns, then what trackers filter by.
FILTER_SHOWN = ("run", "name", "recipe", "model", "optimizer", "lr", "batch", "epochs", "acc",
                "test_acc", "loss", "state")


def filter_keys() -> set[str]:
    """Every key a filter may name: the options, and what `filter_fields` adds."""
    from ..core.config import FIELDS
    return set(FIELDS) | {"run", "name", "recipe", "state", "best_test_acc", "test_acc",
                          "loss"}


def filter_fields(run: RunSummary) -> dict[str, Any]:
    """What a filter can test of a run: its options, its state, its name and directory, the
    recipe the Runs table shows, its best and last test accuracy and its last train loss."""
    from ..core.config import model_label
    c = run.config
    return {**c, "state": run.status, "best_test_acc": run.best,
            "name": run.given_name or run.name, "run": run.name,
            "recipe": f"{model_label(c.get('model', '?'))} {c.get('optimizer', '?')}",
            "test_acc": run.final, "loss": run.train_loss[-1] if run.train_loss else None}


def sort_key(text: str) -> str:
    """The field a sort names: any key a filter takes or its short form (best, acc, lr,
    batch), `epochs_done` or `updated`; anything else is a ValueError saying which exist."""
    key = SHORT_KEYS.get(text, text)
    known = filter_keys() | {"epochs_done", "updated"}
    if key not in known:
        raise ValueError(f"cannot sort by {text!r}: name one of "
                         f"{', '.join(sorted(known | set(SHORT_KEYS)))}")
    return key


def sorted_runs(runs: list, key: str, descending: bool = False) -> list:
    """`runs` by the field `key` (sort_key), runs without a value last either way; values of
    mixed kinds are compared as text."""
    def value(run: RunSummary) -> Any:
        return {**filter_fields(run), "epochs_done": len(run.epochs),
                "updated": run.updated}.get(key)
    have = [r for r in runs if value(r) is not None]
    try:
        have.sort(key=value, reverse=descending)
    except TypeError:
        have.sort(key=lambda r: str(value(r)), reverse=descending)
    return have + [r for r in runs if value(r) is None]


def matching(runs: list, conditions: list[Condition]) -> list:
    """The runs every condition holds for."""
    return [r for r in runs if all(c.holds(filter_fields(r)) for c in conditions)]
