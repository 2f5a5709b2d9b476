"""A learner's own model: `smtui --model FILE.py[:NAME]`, and the nets `d2l.train_ch3` is given.

A learner of chapter 3 writes `net` either as a function over tensors they created (`W`, `b`
with `requires_grad=True`) or as an `nn.Module`; a loss (`cross_entropy`, or
`nn.CrossEntropyLoss(reduction='none')`); and an updater (a function of the batch size, or a
torch optimizer). This module turns those into the core's `Model` and updater, so the run goes
through `train.fit` like smtui's own (events, run directory, stop and checkpoint):

- `FunctionNet` gives a function net the module interface the loop and the checkpoints use,
  over the learner's own tensors (updated in place: their globals stay the live weights).
- `check` runs one small batch through the learner's code before training, so a wrong output
  shape, a loss of the wrong shape or a non-finite loss, or an updater that is neither a torch
  optimizer nor callable, is one line naming what is wrong and where.
- An exception raised inside the learner's file is theirs to read: `UserCodeError` carries the
  traceback frames of their file and the error, never "internal error".
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .config import MODEL_FILE
from .errors import SmtuiError
from .models import Model, cross_entropy, fused_cross_entropy, softmax_stable


def split_spec(spec: str) -> tuple[Path, str]:
    """(the file, the name of its net: `net` unless given after a colon)."""
    match = MODEL_FILE.fullmatch(spec)
    return Path(match["path"]).expanduser(), match["name"] or "net"


class UserCodeError(SmtuiError):
    """An exception raised inside the learner's code, shown with the frames of their file."""


def explain_in(path: Path) -> Callable[[BaseException], BaseException]:
    """A `Model.explain` for code from `path`: an exception whose traceback passes through the
    file becomes a `UserCodeError` showing those frames; any other is left as it is."""
    path = path.resolve()

    def explain(exc: BaseException) -> BaseException:
        if isinstance(exc, (SmtuiError, KeyboardInterrupt, SystemExit)):
            return exc
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if Path(f.filename).resolve() == path]
        if not frames:
            return exc
        lines = [f"your code raised {type(exc).__name__} ({path.name}):"]
        for f in frames:
            lines.append(f'  File "{f.filename}", line {f.lineno}, in {f.name}')
            if f.line:
                lines.append(f"    {f.line}")
        lines.append(f"{type(exc).__name__}: {exc}")
        return UserCodeError("\n".join(lines))
    return explain


class FunctionNet(nn.Module):
    """A learner's `net` function and the tensors it trains, seen as a module.

    The tensors stay the learner's own objects: moving to a device and loading a checkpoint
    change their data in place, so the function, which reads them as globals, sees the new
    values. `state_dict` names them `params.0`, `params.1`, ... in the learner's order.
    """

    def __init__(self, fn: Callable, params: list[torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.tensors = list(params)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.fn(X)

    def parameters(self, recurse: bool = True):
        return iter(self.tensors)

    def named_parameters(self, prefix: str = "", recurse: bool = True, **kw):
        return iter((f"params.{i}", p) for i, p in enumerate(self.tensors))

    def state_dict(self, *args: Any, **kw: Any) -> dict[str, torch.Tensor]:
        return {f"params.{i}": p.detach().cpu().clone() for i, p in enumerate(self.tensors)}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True, assign: bool = False):
        expected = [f"params.{i}" for i in range(len(self.tensors))]
        if sorted(state) != sorted(expected):
            raise RuntimeError(f"the checkpoint holds {len(state)} tensors, the file's params "
                               f"{len(self.tensors)}")
        with torch.no_grad():
            for name, p in zip(expected, self.tensors):
                if tuple(state[name].shape) != tuple(p.shape):
                    raise RuntimeError(f"{name} is {tuple(state[name].shape)} in the checkpoint "
                                       f"but {tuple(p.shape)} in the file")
                p.copy_(state[name])
        return None

    def _apply(self, fn, recurse: bool = True):
        for p in self.tensors:
            p.data = fn(p.data)
        return self


def find_params(fn: Callable, found: list[torch.Tensor] | None = None,
                seen: set[int] | None = None) -> list[torch.Tensor]:
    """The tensors a function net trains: those requiring gradients among the globals and
    closure variables it names, and those of the functions it calls (the book's `net` reads
    `W` and `b`), in the order they are named."""
    found = [] if found is None else found
    seen = set() if seen is None else seen
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return found
    seen.add(id(fn))
    names = dict(getattr(fn, "__globals__", {}))
    if fn.__closure__:
        names.update(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__)))
    for name in (*code.co_names, *code.co_freevars):
        value = names.get(name)
        if isinstance(value, torch.Tensor) and value.requires_grad and \
                not any(value is p for p in found):
            found.append(value)
        elif isinstance(value, types.FunctionType):
            find_params(value, found, seen)
    return found


def as_module(net: Any, params: list[torch.Tensor] | None = None) -> nn.Module:
    """The learner's net as a module: an `nn.Module` as it is, a function with its tensors."""
    if isinstance(net, nn.Module):
        return net
    return FunctionNet(net, list(params) if params is not None else find_params(net))


@dataclass
class OwnCode:
    """What a learner's file defines: the net as a module, and optionally a loss and updater."""

    net: nn.Module
    loss: Callable | None
    updater: Any
    path: Path


def load_file(spec: str) -> OwnCode:
    """Import the learner's file and take its net, params, loss and updater (or trainer).

    The file is imported under a module name of its own (not `__main__`), so code below
    `if __name__ == "__main__":` does not run. A file that is missing, does not import, or has no
    net is one line.
    """
    path, name = split_spec(spec)
    if not path.is_file():
        raise SmtuiError(f"--model {spec}: no such file")
    module_name = f"smtui_model_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module   # dataclasses and pickling look modules up here
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SmtuiError(f"--model {spec}: {path.name}, line {exc.lineno}: SyntaxError: "
                         f"{exc.msg}") from None
    except Exception as exc:
        raise explain_in(path)(exc) from None
    net = getattr(module, name, None)
    if net is None:
        raise SmtuiError(f"--model {spec}: {path.name} defines no {name!r} (a function or an "
                         "nn.Module that maps a batch of images to 10 scores)")
    if not (isinstance(net, nn.Module) or callable(net)):
        raise SmtuiError(f"--model {spec}: {name} is a {type(net).__name__}, not a function or "
                         "an nn.Module")
    params = getattr(module, "params", None)
    if not isinstance(net, nn.Module):
        if params is None:
            params = find_params(net)
        params = list(params) if isinstance(params, (list, tuple)) else params
        if not isinstance(params, list) or not params or not all(
                isinstance(p, torch.Tensor) and p.requires_grad for p in params):
            raise SmtuiError(f"--model {spec}: {path.name} must define params, the list of "
                             "tensors its net trains (created with requires_grad=True), "
                             "e.g. params = [W, b]")
    updater = getattr(module, "updater", None) or getattr(module, "trainer", None)
    return OwnCode(as_module(net, params), getattr(module, "loss", None), updater, path)


def returns_probabilities(out: torch.Tensor) -> bool:
    """True when a net's output rows look like probabilities (the book's scratch `net` ends in
    softmax): none negative, each summing to 1."""
    out = out.detach().float()
    return bool((out >= 0).all()) and bool(torch.allclose(out.sum(1), torch.ones(len(out)),
                                                          atol=1e-3))


def check(net: nn.Module, loss: Callable, updater: Any, X: torch.Tensor, y: torch.Tensor,
          where: str) -> None:
    """Run the learner's net and loss on one small batch before training. Raises a one-line SmtuiError naming what is wrong (`where`: the
    file, or the function called), and lets the learner's own exceptions through."""
    if not (isinstance(updater, torch.optim.Optimizer) or callable(updater)):
        raise SmtuiError(f"{where}: the updater is a {type(updater).__name__}: give a torch "
                         "optimizer or a function of the batch size, such as "
                         "lambda batch_size: d2l.sgd([W, b], lr, batch_size)")
    with torch.no_grad():
        out = net(X)
        B = X.shape[0]
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (B, 10):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise SmtuiError(f"{where}: net returned {shape} for a batch of {B} images; it must "
                             f"return ({B}, 10), a score or probability per class")
        l = loss(out, y)
        if not isinstance(l, torch.Tensor) or tuple(l.shape) != (B,):
            shape = tuple(l.shape) if isinstance(l, torch.Tensor) else type(l).__name__
            raise SmtuiError(f"{where}: the loss returned {shape} for a batch of {B}; "
                             f"train_epoch_ch3 needs one loss per example, ({B},) (for "
                             "nn.CrossEntropyLoss: reduction='none')")
        if not torch.isfinite(l).all():
            raise SmtuiError(f"{where}: the loss is {l[~torch.isfinite(l)][0].item()} on the "
                             "first images, before any training (a log of 0? use the "
                             "LogSumExp form of the notes' exercise 3)")


def own_model(code: OwnCode, X: torch.Tensor, y: torch.Tensor, where: str) -> Model:
    """The learner's code as the core's `Model`, checked on (X, y). Without a loss of their
    own: cross-entropy on probabilities for a net that returns them (the book's), else smtui's
    stable cross-entropy on logits."""
    explain = explain_in(code.path) if code.path else (lambda exc: exc)
    updater = code.updater if code.updater is not None else (lambda batch_size: None)
    try:
        with torch.no_grad():
            out = code.net(X)
        probabilities = isinstance(out, torch.Tensor) and out.dim() == 2 and \
            returns_probabilities(out)
        loss = code.loss or (cross_entropy if probabilities else fused_cross_entropy)
        check(code.net, loss, updater, X, y, where)
    except Exception as exc:
        raise explain(exc) from None
    return Model(code.net, loss, (lambda p: p) if probabilities else softmax_stable, "own",
                 explain)
