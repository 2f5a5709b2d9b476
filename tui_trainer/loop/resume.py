"""What `--resume` may change, and how a checkpoint is put back into a prepared run.

Every check that can refuse a resume runs before the run directory is touched, so a refused
resume leaves its files as they were. The README's "Resuming" section says the same as
RESUME_FIXED and RESUME_AT_EPOCH.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..core.config import TrainConfig, absolute_model
from ..core.errors import SmtuiError
from ..store.rundir import RunDir
from ..store.checkpoint import load_checkpoint
from ..core.updaters import BookSGD, set_lr

# How an option given with --resume is treated. Every other option takes effect from the first
# batch trained and is recorded in config.json: lr, weight decay and schedule (the optimizer's
# saved state keeps its moments, not its lr), epochs (never below those already trained),
# device, data location, DataLoader workers.
RESUME_FIXED = {   # the weights, the optimizer state or the shuffling RNG depend on these
    "model": "the weights are this model's",
    "softmax": "the loss is part of the model",
    "optimizer": "the optimizer's state is saved",
    "resize": "the weights are for this image size",
    "seed": "the checkpoint restores its shuffling state",
    "out": "the run stays in its own directory",
}
RESUME_AT_EPOCH = ("batch_size", "loader")   # they define the interrupted epoch's batches


def check_resume(state: dict[str, Any], config: TrainConfig, where: str) -> dict[str, list]:
    """Refuse a config that cannot continue `state`; returns {option: [old, new]} that changed."""
    saved = TrainConfig.from_dict(state.get("config", {}))
    # A model file recorded by its relative path (runs of earlier versions) is that path from
    # here: the same file as `config`'s absolute one when resumed from the same folder.
    saved = saved.replace(model=absolute_model(saved.model))
    changed = {name: [getattr(saved, name), getattr(config, name)]
               for name in config.to_dict() if getattr(saved, name) != getattr(config, name)}
    for name, why in RESUME_FIXED.items():
        if name in changed:
            raise SmtuiError(
                f"checkpoint {where} was trained with "
                f"{name}={getattr(saved, name)!r}, not {getattr(config, name)!r} ({why})"
            )
    done, batch = int(state.get("epoch", 0)), int(state.get("batch", 0))
    if batch:
        for name in RESUME_AT_EPOCH:
            if name in changed:
                option = "--" + name.replace("_", "-")
                raise SmtuiError(f"{option} cannot change in the middle of an epoch: {where} "
                                 f"stopped at epoch {done + 1}, batch {batch} with {option} "
                                 f"{getattr(saved, name)}; resume with that value", exit_code=2)
    needed = done + (1 if batch else 0)
    if config.epochs < needed:
        raise SmtuiError(f"--epochs {config.epochs} is below the {needed} epochs {where} has "
                         f"{'started' if batch else 'trained'}; pass --epochs {needed} or more",
                         exit_code=2)
    return changed


def script_refusal(resume: str) -> str | None:
    """Why the run `resume` cannot be resumed by smtui, or None: a script's `train_ch3` or
    `train_ch6` trained it, and its net lives in that script."""
    trained_by = RunDir.open(resume).read_config().get("trained_by")
    if not trained_by:
        return None
    return (f"{resume} was trained by a script's {trained_by}: run the script again to train "
            "it (its net lives in the script)")


MODEL_CHANGED_VAR = "SMTUI_MODEL_CHANGED"   # set to 1: resume with a model file that changed


def model_digest(spec: str) -> str | None:
    """The SHA-256 of a model file's bytes (`--model my_net.py[:net]`), None when unreadable."""
    import hashlib

    from ..core.config import model_file_parts
    try:
        return hashlib.sha256(Path(model_file_parts(spec)[0]).expanduser()
                              .read_bytes()).hexdigest()
    except (OSError, TypeError, ValueError):
        return None


def model_file_changed(resume: str, config: TrainConfig) -> str | None:
    """Why a `--model` run may not resume with the file found now, or None: the run recorded
    its file's hash, and this file's differs (edited, or another file at that path), so the
    weights would train on under other code. SMTUI_MODEL_CHANGED=1 asks to go on anyway."""
    import os

    from ..core.config import is_model_file
    saved = RunDir.open(resume).read_config().get("model_sha256")
    if not is_model_file(config.model) or not isinstance(saved, str) or \
            os.environ.get(MODEL_CHANGED_VAR):
        return None
    now = model_digest(config.model)
    if now is None or now == saved:
        return None
    return (f"{config.model} is not the file {resume} was trained with (its contents changed "
            f"since); {MODEL_CHANGED_VAR}=1 resumes with it anyway")


def read_resume(resume: str, config: TrainConfig) -> tuple[dict[str, Any], dict[str, list]]:
    """(checkpoint state, changed options) of the run `resume`, refused where it cannot go on
    with `config`."""
    refusal = script_refusal(resume) or model_file_changed(resume, config)
    if refusal:
        raise SmtuiError(refusal)
    state = load_checkpoint(resume)
    return state, check_resume(state, config, resume)


def check_data(state: dict[str, Any], resume: str, data) -> None:
    """Refuse data other than the checkpoint's: another data set, or another training set
    size in the middle of an epoch (the skipped batches would be other images)."""
    trained_on = state.get("dataset", data.name)
    if trained_on != data.name:
        raise SmtuiError(f"checkpoint {resume} was trained on the {trained_on} data set, "
                         f"but this run found the {data.name} one (check --data-dir and "
                         "--dataset)")
    if state.get("batch") and state.get("num_train", len(data.train_labels)) != \
            len(data.train_labels):
        raise SmtuiError(f"checkpoint {resume} stopped mid-epoch over "
                         f"{state['num_train']} training images, but the data has "
                         f"{len(data.train_labels)}")


def restore(session, state: dict[str, Any], resume: str, own_updater: bool) -> None:
    """Put the checkpoint's weights, optimizer state, shuffling RNG and progress into the
    prepared `session` (a `train.Session`). The options' lr and weight decay win over the
    saved optimizer's; a learner's own updater keeps the rate their file gives it."""
    model, updater = session.model, session.updater
    try:
        model.net.load_state_dict(state["model"])
        if hasattr(updater, "load_state_dict"):
            updater.load_state_dict(state["optimizer"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise SmtuiError(f"checkpoint {resume} does not fit this model: "
                         f"{str(exc).splitlines()[0][:120]}") from None
    if not own_updater:
        set_lr(updater, session.config.lr)
        if not isinstance(updater, BookSGD):
            for group in updater.param_groups:
                group["weight_decay"] = session.config.weight_decay
    session.generator.set_state(state["rng"])
    session.epoch, session.batch = int(state["epoch"]), int(state["batch"])
    session.epoch_rng_state = state["rng"] if session.batch else None
    session.partial = [float(v) for v in state.get("partial", [0.0, 0.0, 0.0])]
    session.partial_seconds = float(state.get("partial_seconds", 0.0))
    session.history = list(state.get("history", []))


def resumed_record(run: RunDir, session, changed: dict[str, list]) -> list[dict[str, Any]]:
    """config.json's `resumed` list with this resume appended."""
    resumed = run.read_config().get("resumed")
    resumed = resumed if isinstance(resumed, list) else []
    resumed.append({"after_epoch": session.epoch, "batch": session.batch, "changed": changed,
                    "at": time.strftime("%Y-%m-%d %H:%M:%S")})
    return resumed
