"""The checkpoint format: what `checkpoint.pt` holds, written atomically and read back safely.

A checkpoint is one dict (nanoGPT's shape): model, optimizer, config, epoch, batch, the shuffling
RNG and the partial epoch. It is read with `weights_only=True`, so a file holding code is refused,
and every field the loops and the viewer read is checked before it is used: a checkpoint of
another version, another tool or a hand edit is one line, never a traceback later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import SmtuiError
from .files import atomic_write_bytes

CHECKPOINT_FORMAT = "smtui-checkpoint"
CHECKPOINT_VERSION = 1   # the version this smtui writes and reads
CHECKPOINT_NAME = "checkpoint.pt"   # in a run directory


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint of `state` to `path` atomically, marked with this format and version;
    the previous checkpoint survives any failure."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path

def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only=True`); a clear error for anything else."""
    import pickle
    import zipfile

    import torch

    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
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
    from ..core.console import inert
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
    optional: tuple[tuple[str, type | tuple[type, ...]], ...] = (
        ("history", list), ("partial_seconds", (int, float)), ("dataset", str), ("num_train", int))
    for key, allowed in optional:
        if key in state and not isinstance(state[key], allowed):
            return f"its {key} is a {type(state[key]).__name__}"
    return None
