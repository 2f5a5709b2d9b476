"""The one configuration dataclass behind the CLI options, the TUI form and the saved run config.

Every option is declared once here, with its help text, its choices and its validation, so that the
command line, the form and `config.json` cannot drift apart. This module imports neither torch nor
textual: `smtui --help` and the TUI's first paint read it before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

MODELS = ("scratch", "concise", "mlp")
SOFTMAX = ("stable", "naive")
OPTIMIZERS = ("sgd", "torch-sgd", "adam")
LOADERS = ("fast", "book")
DEVICES = ("auto", "cpu", "cuda")
DATASETS = ("auto", "full", "subset")
SCHEDULES = ("constant", "cosine")
GRADIENTS = ("analytic", "autograd")
CUDA_INDEX = re.compile(r"cuda:\d{1,3}")   # --device cuda:1 on a machine of several GPUs
# --model my_model.py or my_model.py:my_net: a learner's own model (usercode.py)
MODEL_FILE = re.compile(r"(?P<path>.+\.py)(?::(?P<name>[A-Za-z_]\w*))?")
# --name: part of a folder name; letters and digits of any script (`café`, `实验`)
RUN_NAME = re.compile(r"[^\W_][\w.-]{0,39}")


def is_model_file(spec: Any) -> bool:
    """True when `--model` names a Python file (`my_model.py`, `my_model.py:my_net`)."""
    return isinstance(spec, str) and MODEL_FILE.fullmatch(spec) is not None


def model_file_parts(spec: str) -> tuple[str, str | None]:
    """(the file's path as given, the net's name after a colon or None) of a model file's
    spec; a spec that names no file is a ValueError."""
    match = MODEL_FILE.fullmatch(spec)
    if match is None:
        raise ValueError(f"{spec!r} names no model file")
    return match["path"], match["name"]


def absolute_model(spec: str) -> str:
    """A model file's spec with its path made absolute (`my_model.py:net` ->
    `/home/me/ch3/my_model.py:net`), so a run records where its net came from and resumes from
    any folder; smtui's own models as they are."""
    if not is_model_file(spec):
        return spec
    path, name = model_file_parts(spec)
    return os.path.abspath(os.path.expanduser(path)) + (f":{name}" if name else "")


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """`config` with the paths a run records made absolute (its model file, its data folder),
    so that the run resumes, and its files read, from any folder."""
    data_dir = os.path.abspath(os.path.expanduser(config.data_dir)) if config.data_dir else None
    return config.replace(model=absolute_model(config.model), data_dir=data_dir)


def model_label(spec: Any) -> str:
    """The model as a table cell or a title shows it: a model file by its name
    (`my_model.py`, `my_model.py:my_net`), not its whole path."""
    if not is_model_file(spec):
        return str(spec)
    path, name = model_file_parts(spec)
    return os.path.basename(path) + (f":{name}" if name else "")

# Bounds that keep every value inside what the loop can represent: a learning rate or weight
# decay that float32 cannot hold overflows inside the optimizer; torch seeds are 64-bit; and a
# count beyond these is a typo, not a plan (a million DataLoader workers would fork a million
# processes).
FLOAT32_MAX, FLOAT32_TINY = 3.4028234e38, 1.1754944e-38
MAX_SEED = 2**64 - 1
MAX_EPOCHS, MAX_BATCH, MAX_WORKERS, MAX_THREADS = 1_000_000, 1_000_000, 256, 1024


def _opt(help: str, choices: tuple[str, ...] | None = None, **kw: Any) -> Any:
    """A dataclass field carrying its CLI help text and choices in `metadata`."""
    default = kw.pop("default")
    return field(default=default, metadata={"help": help, "choices": choices, **kw})


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults are the book's (d2l chapter 3)."""

    model: str = _opt("scratch: the book's softmax from scratch; concise: nn.Linear; mlp: 256 "
                      "ReLU units; or FILE.py[:NAME], your own net", MODELS, default="scratch")
    softmax: str = _opt("stable: LogSumExp cross-entropy; naive: the book's exp/log (may overflow)",
                        SOFTMAX, default="stable")
    optimizer: str = _opt("sgd: the book's sgd(params, lr, batch_size); torch-sgd; adam",
                          OPTIMIZERS, default="sgd")
    lr: float = _opt("learning rate", default=0.1)
    batch_size: int = _opt("minibatch size", default=256)
    epochs: int = _opt("number of epochs", default=10)
    weight_decay: float = _opt("L2 weight decay (torch optimizers only)", default=0.0)
    schedule: str = _opt("learning-rate schedule over the whole run", SCHEDULES, default="constant")
    loader: str = _opt("fast: tensors held on the device; book: torchvision DataLoader as written",
                       LOADERS, default="fast")
    gradient: str = _opt("analytic: the linear models' gradient written out (softmax - one-hot) "
                         "where it is the book's step; autograd: the book's backward()",
                         GRADIENTS, default="analytic")
    num_workers: int = _opt("DataLoader worker processes (book loader only; at most the CPUs "
                            "smtui may use)", default=4)
    resize: int | None = _opt("resize images to this side length (none: 28)", default=None)
    device: str = _opt("where to train: auto picks CUDA when present; cuda:N picks a GPU",
                       DEVICES, default="auto")
    threads: str = _opt("CPU threads: auto fits the CPUs allowed and a shared CPU; N fixes it",
                        default="auto")
    seed: int = _opt("random seed for initialisation and shuffling", default=1)
    data_dir: str | None = _opt(
        "a torchvision root or a folder of the four IDX .gz files", default=None
    )
    dataset: str = _opt(
        "auto: full data if found, else the embedded subset; full: refuse to fall back",
        DATASETS,
        default="auto",
    )
    out: str = _opt("folder that receives run directories", default="runs")
    name: str | None = _opt("a name for the run, shown in the Runs tab, compare and smtui runs "
                            "(letters, digits, - _ .)", default=None)
    tensorboard: str | None = _opt("also log to TensorBoard, each run in a subfolder of this "
                                   "folder (needs the tensorboard package)", default=None)

    def validate(self) -> dict[str, str]:
        """Return {field name: reason} for every invalid field; empty when the config is usable."""
        errors: dict[str, str] = {}
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices and not (
                    f.name == "device" and isinstance(value, str) and CUDA_INDEX.fullmatch(value)
            ) and not (f.name == "model" and is_model_file(value)):
                extra = {"device": ", cuda:N", "model": ", FILE.py[:NAME]"}.get(f.name, "")
                errors[f.name] = f"must be one of {', '.join(choices)}{extra} (got {value!r})"
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            errors["lr"] = f"must be a positive finite number (got {self.lr!r})"
        elif not FLOAT32_TINY <= self.lr <= FLOAT32_MAX:
            errors["lr"] = f"must be between 1.2e-38 and 3.4e+38, float32's range (got {self.lr!r})"
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            errors["weight_decay"] = (
                f"must be zero or a positive number (got {self.weight_decay!r})"
            )
        elif self.weight_decay and not FLOAT32_TINY <= self.weight_decay <= FLOAT32_MAX:
            errors["weight_decay"] = ("must be 0 or between 1.2e-38 and 3.4e+38, float32's range "
                                      f"(got {self.weight_decay!r})")
        elif self.weight_decay and self.optimizer == "sgd":
            errors["weight_decay"] = ("applies to --optimizer torch-sgd or adam; the book's sgd "
                                      "has none")
        for name, top in (("batch_size", MAX_BATCH), ("epochs", MAX_EPOCHS)):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                errors[name] = f"must be a positive whole number (got {value!r})"
            elif value > top:
                errors[name] = f"must be at most {top:,} (got {value!r})"
        if not isinstance(self.num_workers, int) or not 0 <= self.num_workers <= MAX_WORKERS:
            errors["num_workers"] = (f"must be a whole number from 0 to {MAX_WORKERS} "
                                     f"(got {self.num_workers!r})")
        if self.resize is not None and (
            not isinstance(self.resize, int) or not 4 <= self.resize <= 512
        ):
            errors["resize"] = f"must be a side length from 4 to 512 (got {self.resize!r})"
        threads = str(self.threads)
        if threads != "auto" and not (threads.isdigit() and 1 <= int(threads) <= MAX_THREADS):
            errors["threads"] = f"must be auto or a whole number from 1 to {MAX_THREADS} " \
                                f"(got {self.threads!r})"
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            errors["seed"] = f"must be a whole number from 0 to 2**64-1 (got {self.seed!r})"
        if self.softmax == "naive" and self.model != "scratch" and "softmax" not in errors:
            errors["softmax"] = ("naive applies to --model scratch only (concise and mlp use "
                                 "torch's CrossEntropyLoss)")
        if self.dataset == "subset" and self.data_dir and "dataset" not in errors:
            errors["data_dir"] = ("goes with --dataset auto or full; the embedded subset "
                                  "needs none")
        if not self.out:
            errors["out"] = "must name a folder"
        if self.name is not None and not (isinstance(self.name, str)
                                          and RUN_NAME.fullmatch(self.name)):
            errors["name"] = ("must be 1 to 40 letters, digits, '-', '_' or '.', starting with a "
                              f"letter or digit (got {self.name!r})")
        return errors

    @property
    def run_name(self) -> str:
        """The run directory's name after its time stamp: the --name, else the model
        (`scratch`, or a model file's stem)."""
        if self.name:
            return self.name
        if is_model_file(self.model):
            return model_file_parts(self.model)[0].rsplit("/", 1)[-1][:-3] or "own"
        return self.model

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict, ignoring keys this version does not know."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> tuple[TrainConfig, list[str]]:
        """A usable config from a saved dict that may come from elsewhere: each field that is
        missing, of the wrong type or invalid takes its default. Returns (config, what was
        replaced), so a reader can say what it ignored instead of failing later."""
        defaults = cls()
        problems = []
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            kind = _kind(f)
            ok = (value is None and f.default is None) or (
                isinstance(value, kind) and not isinstance(value, bool)) or (
                kind is float and isinstance(value, int) and not isinstance(value, bool))
            if ok:
                values[f.name] = value
            else:
                problems.append(f"{f.name}={value!r}")
        config = cls(**values)
        for name in config.validate():
            problems.append(f"{name}={getattr(config, name)!r}")
            config = config.replace(**{name: getattr(defaults, name)})
        return config, problems

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def parse_field(name: str, text: str) -> Any:
    """Turn the text a user typed for field `name` into its typed value.

    Raises ValueError with a short reason. Shared by the CLI and the TUI form so both accept the
    same spellings ("none" for an optional field, "1e-3" for a float).
    """
    f = FIELDS[name]
    text = text.strip()
    optional = f.default is None
    if optional and text.lower() in ("", "none"):
        return None
    kind = f.metadata.get("kind") or _kind(f)
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            if name == "lr" and "," in text:
                raise ValueError(f"one rate, not a list: several are a sweep (smtui sweep --lr "
                                 f"{text.replace(' ', '')}; in the TUI, sweep lrs)") from None
            raise ValueError(f"not a number: {text!r}") from None
        return value
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"not a whole number: {text!r}") from None
    return text


def _kind(f: dataclasses.Field) -> type:
    """The Python type of a field, read from its annotation string."""
    annotation = str(f.type)
    if annotation.startswith("float"):
        return float
    if annotation.startswith("int"):
        return int
    return str


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}

# Named recipes beyond the book's defaults; `--preset NAME` starts from one of them.
PRESETS: dict[str, dict[str, Any]] = {
    "book": {},
    # Best linear recipe found (Adam, cosine decay): 0.848 test accuracy, above the 0.842 of
    # scikit-learn's logistic regression; label smoothing, flips and averaging did not help.
    # Large batches make it fast (about 4 s on two CPU cores); smaller ones gave the same 0.848.
    "linear-tuned": {"model": "concise", "optimizer": "adam", "lr": 0.005, "batch_size": 512,
                     "epochs": 30, "schedule": "cosine"},
    # One hidden layer of 256 ReLU units (d2l chapter 4): 0.89 test accuracy.
    "mlp": {"model": "mlp", "optimizer": "adam", "lr": 0.002, "batch_size": 256, "epochs": 20,
            "schedule": "cosine"},
}

# The fields that make a recipe: a config whose recipe fields equal a preset's is that preset,
# whatever its data, output, device, threads or seed.
RECIPE_FIELDS = ("model", "softmax", "optimizer", "lr", "batch_size", "epochs", "weight_decay",
                 "schedule", "resize")


FULL_TRAIN_SIZE = 60000   # Fashion-MNIST's training images; the embedded subset has fewer


def preflight(config: TrainConfig) -> dict[str, str]:
    """{field: reason} for what `validate` cannot see but a run would refuse at its start:
    files and folders that are missing or of the wrong kind, a package that is not installed,
    a batch larger than the training set, CUDA where torch (already loaded) finds none. Cheap
    (a few stat calls, no torch import), so the TUI's form checks as the user types and the
    CLI before anything loads; a run still checks again when it starts."""
    import importlib.util
    import sys
    from pathlib import Path

    problems: dict[str, str] = {}

    def kind(text: str) -> str | None:
        path = Path(text).expanduser()
        try:
            return "dir" if path.is_dir() else "file" if path.exists() else None
        except OSError:
            return "unknown"   # a name the system refuses: the run says why
    if config.data_dir:
        found = kind(config.data_dir)
        if found is None:
            problems["data_dir"] = f"{config.data_dir} does not exist"
        elif found == "file":
            problems["data_dir"] = f"{config.data_dir} is a file, not a folder"
    if config.out and kind(config.out) == "file":
        problems["out"] = f"{config.out} is a file, not a folder"
    if is_model_file(config.model):
        path = model_file_parts(config.model)[0]
        if kind(path) in (None, "dir"):
            problems["model"] = f"{path} does not exist" if kind(path) is None else \
                f"{path} is a folder, not a Python file"
    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        problems["tensorboard"] = "needs the tensorboard package (pip install tensorboard)"
    if isinstance(config.batch_size, int) and config.batch_size > FULL_TRAIN_SIZE:
        problems["batch_size"] = (f"{config.batch_size} is larger than the {FULL_TRAIN_SIZE} "
                                  "training images")
    torch = sys.modules.get("torch")
    if str(config.device).startswith("cuda") and torch is not None:
        try:
            if not torch.cuda.is_available():
                problems["device"] = "CUDA is not available here (use cpu or auto)"
        except AttributeError:   # torch still being imported in another thread
            pass
    return problems


def sweep_refusal(config: TrainConfig) -> str | None:
    """Why a learning-rate sweep cannot train `config`, or None. The sweep stacks smtui's own
    models into one; the CLI, the form and the core say the same."""
    if is_model_file(config.model):
        return (f"--model {config.model}: a sweep stacks smtui's own models (scratch, concise, "
                "mlp) into one; train your own model one rate per run (smtui --no-ui --model "
                f"{config.model} --lr RATE)")
    return None


def preset_of(config: TrainConfig) -> str | None:
    """The name of the preset `config` follows, or None when a recipe field departs from all."""
    for name, changes in PRESETS.items():
        recipe = TrainConfig(**changes)
        if all(getattr(config, f) == getattr(recipe, f) for f in RECIPE_FIELDS):
            return name
    return None


# A learning-rate sweep (`smtui sweep`, the form's "sweep lrs"): its list is read here, without
# torch, so the form can check it as the user types.
MAX_MODELS = 64


def parse_numbers(text: str) -> list[float]:
    """'0.01, 0.1;1' -> [0.01, 0.1, 1.0] (commas or semicolons); ValueError naming the bad item."""
    values = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"not a number: {item!r}") from None
    return values


def parse_lrs(text: str) -> list[float]:
    """'0.01, 0.1,1' -> [0.01, 0.1, 1.0]; ValueError naming what is wrong."""
    values = parse_numbers(text)
    if len(values) < 2:
        raise ValueError("give two or more learning rates, e.g. 0.01,0.1,1")
    if len(values) > MAX_MODELS:
        raise ValueError(f"at most {MAX_MODELS} learning rates (got {len(values)})")
    if len(set(values)) != len(values):
        raise ValueError("a learning rate appears twice")
    return values
