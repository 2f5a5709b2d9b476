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
- An exception raised inside the learner's code is theirs to read: one line naming their file,
  line and error (mistakes.py), never "internal error" or smtui's frames.
- `never_trained` finds the tensors a net reads that will never train (a `W` created without
  `requires_grad=True`), for a warning before the first epoch.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..core.config import model_file_parts
from ..core.errors import SmtuiError
from ..core.mistakes import UserCodeError, debugging, explain, one_line
from ..core.models import Model, cross_entropy, fused_cross_entropy, softmax_stable


def split_spec(spec: str) -> tuple[Path, str]:
    """(the file, the name of its net: `net` unless given after a colon)."""
    path, name = model_file_parts(spec)
    return Path(path).expanduser(), name or "net"


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

    # The module interface over a function's tensors: narrower than nn.Module's on purpose.
    def named_parameters(self, prefix: str = "", recurse: bool = True,  # type: ignore[override]
                         **kw):
        return iter((f"params.{i}", p) for i, p in enumerate(self.tensors))

    def state_dict(self, *args: Any, **kw: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {f"params.{i}": p.detach().cpu().clone() for i, p in enumerate(self.tensors)}

    def load_state_dict(self, state: dict[str, Any],  # type: ignore[override]
                        strict: bool = True, assign: bool = False):
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


def describe_net(net: nn.Module) -> str:
    """A learner's net in a few words, for a title: `Sequential: Conv2d, Sigmoid, AvgPool2d,
    ... (61,706 parameters)`, or `net(X) (7,850 parameters)` for a function net."""
    count = sum(p.numel() for p in net.parameters())
    if isinstance(net, FunctionNet):
        head = f"{getattr(net.fn, '__name__', 'net')}(X)"
    else:
        head = type(net).__name__
        layers = [type(m).__name__ for m in net.children()]
        if layers:
            shown = ", ".join(layers[:4]) + (", ..." if len(layers) > 4 else "")
            head += f": {shown}"
    return f"{head} ({count:,} parameters)"


def named_tensors(fn: Callable, seen: set[int] | None = None):
    """(name, tensor) for each tensor among the globals and closure variables a function names,
    and those of the functions it calls (the book's `net` reads `W` and `b`, its `softmax`
    nothing), in the order they are named; a tensor once."""
    seen = set() if seen is None else seen
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return
    seen.add(id(fn))
    names = dict(getattr(fn, "__globals__", {}))
    if fn.__closure__:
        names.update(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__)))
    for name in (*code.co_names, *code.co_freevars):
        value = names.get(name)
        if isinstance(value, torch.Tensor) and id(value) not in seen:
            seen.add(id(value))
            yield name, value
        elif isinstance(value, types.FunctionType):
            yield from named_tensors(value, seen)


def find_params(fn: Callable) -> list[torch.Tensor]:
    """The tensors a function net trains: those it reads (`named_tensors`) that require
    gradients."""
    return [t for _, t in named_tensors(fn) if t.requires_grad]


def never_trained(net: nn.Module, updater: Any) -> str | None:
    """A warning naming the tensors `net` reads that will never train, or None: a function
    net's weights created without `requires_grad=True` (the loop would train only `b`), a
    module's parameters with gradients turned off, or parameters a torch optimizer was not
    given."""
    if isinstance(net, FunctionNet):
        trained = {id(p) for p in net.tensors}
        frozen = [(name, t) for name, t in named_tensors(net.fn) if id(t) not in trained
                  and t.is_floating_point() and t.dim() >= 1 and not t.requires_grad]
    else:
        frozen = [(name, p) for name, p in net.named_parameters() if not p.requires_grad]
    names = ", ".join(f"{name} {tuple(t.shape)}" for name, t in frozen)
    if frozen:
        return (f"{names}: read by the net but created without requires_grad=True, so never "
                "trained (create it with requires_grad=True)")
    if isinstance(updater, torch.optim.Optimizer):
        given = {id(p) for group in updater.param_groups for p in group["params"]}
        left = [(name, p) for name, p in net.named_parameters() if id(p) not in given]
        if left:
            return (", ".join(f"{name} {tuple(p.shape)}" for name, p in left)
                    + ": not among the optimizer's parameters, so never trained (give it "
                    "net.parameters())")
    return None


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
    path: Path | None   # None: a net handed to d2l.train_ch3, not a file


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
    if loader_spec is None or loader_spec.loader is None:
        raise SmtuiError(f"--model {spec}: Python cannot load {path.name} as a module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module   # dataclasses and pickling look modules up here
    folder = str(path.resolve().parent)
    if folder not in sys.path:   # its helpers beside it import, as under `python FILE.py`
        sys.path.insert(0, folder)
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SmtuiError(f"--model {spec}: {path.name}, line {exc.lineno}: SyntaxError: "
                         f"{exc.msg}") from None
    except (Exception, SystemExit) as exc:   # sys.exit at import: an error, not a success
        raise explain(exc) from None
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
    """Run the learner's net and loss on one small batch before training. Raises a one-line
    SmtuiError naming what is wrong (`where`: the file, or the function called), and lets the
    learner's own exceptions through."""
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


def updater_lr(updater: Any) -> float | None:
    """The learning rate the learner's updater steps with, where it can be seen: a torch
    optimizer's, or a number called `lr` that their updater function reads."""
    if isinstance(updater, torch.optim.Optimizer):
        return float(updater.param_groups[0]["lr"])
    code = getattr(updater, "__code__", None)
    if isinstance(updater, types.FunctionType) and code is not None:
        names = dict(updater.__globals__)
        if updater.__closure__:
            names.update(zip(code.co_freevars, (c.cell_contents for c in updater.__closure__)))
        value = names.get("lr")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


PROBE = 8   # images the learner's code is first tried on: a big net's check stays cheap


def own_model(code: OwnCode, X: torch.Tensor, y: torch.Tensor, where: str) -> Model:
    """The learner's code as the core's `Model`, checked on the first images of (X, y), one
    of their batches. Without a loss of their own: cross-entropy on probabilities for a net
    that returns them (the book's), else smtui's stable cross-entropy on logits. A failure is
    one line, said with the learner's whole batch (the numbers they know: 256x28, not 8x28)."""
    updater = code.updater if code.updater is not None else (lambda batch_size: None)
    try:
        probabilities, loss = _tried(code, updater, X[:PROBE], y[:PROBE], where)
    except (Exception, SystemExit) as first:   # sys.exit in the net: theirs too
        exc = first   # said with their whole batch where that fails too (its own numbers)
        if len(X) > PROBE:
            try:
                _tried(code, updater, X, y, where)
            except (Exception, SystemExit) as again:
                exc = again
        raise _in_one_line(exc, X, where) from None
    return Model(code.net, loss, (lambda p: p) if probabilities else softmax_stable, "own",
                 explain, warnings=tuple(filter(None, [never_trained(code.net, updater)])))


def _tried(code: OwnCode, updater: Any, X: torch.Tensor, y: torch.Tensor, where: str):
    """(whether the net returns probabilities, the loss to train with), once `check` passes."""
    with torch.no_grad():
        out = code.net(X)
    probabilities = isinstance(out, torch.Tensor) and out.dim() == 2 and \
        returns_probabilities(out)
    loss = code.loss or (cross_entropy if probabilities else fused_cross_entropy)
    check(code.net, loss, updater, X, y, where)
    return probabilities, loss


def _in_one_line(exc: BaseException, X: torch.Tensor, where: str) -> BaseException:
    """What the check's failure raises: smtui's own words as they are, the learner's error as
    one line (their file and line where the traceback passes through it, else `where`), with
    what to do about images that reach a matrix product unflattened."""
    if isinstance(exc, (SmtuiError, KeyboardInterrupt)) or debugging():
        return exc
    hint = ""
    if "cannot be multiplied" in str(exc) and X.dim() > 2:
        hint = (f"the images come as {tuple(X.shape)}: flatten them first "
                f"(X.reshape((-1, {X[0].numel()})) or nn.Flatten())")
    explained = explain(exc, hint)
    if isinstance(explained, SmtuiError):
        return explained
    error = UserCodeError(f"{where}: {one_line(exc, hint=hint)}")
    error.__cause__ = exc
    return error
