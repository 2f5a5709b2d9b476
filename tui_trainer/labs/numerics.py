"""The numerics lab: the notes' exercises 1-3 on logits the user chooses.

1. softmax from the definition overflows: exp(1000) is inf, and inf / inf is nan;
2. cross-entropy from the definition takes log of a probability that underflowed to 0: inf;
3. the LogSumExp form, o_j - max(o) - log(sum_k exp(o_k - max(o))), stays finite and agrees
   with torch's own log_softmax.
`smtui numerics --logits 1000,0,-1000 --label 2` prints the comparison; the TUI has the same lab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.config import parse_numbers
from ..core.models import cross_entropy, log_softmax_stable, softmax


@dataclass
class Comparison:
    """Naive against stable on one row of logits."""

    logits: list[float]
    label: int
    naive_softmax: list[float]
    stable_softmax: list[float]
    naive_loss: float
    stable_loss: float
    torch_loss: float

    @property
    def verdict(self) -> str:
        """One sentence on what went wrong, if anything."""
        if any(math.isnan(p) for p in self.naive_softmax):
            return "naive softmax overflowed: exp() of a large logit is inf, and inf/inf is nan"
        if math.isinf(self.naive_loss):
            return "naive cross-entropy is inf: the true class's probability underflowed to 0"
        return "both forms agree on these logits"


def compare(logits: list[float], label: int = 0) -> Comparison:
    """The naive and the stable softmax and cross-entropy of `logits` (float32, as in training)."""
    if not logits:
        raise ValueError("give at least one logit")
    if not 0 <= label < len(logits):
        raise ValueError(f"label must be between 0 and {len(logits) - 1}")
    O = torch.tensor([logits], dtype=torch.float32)
    y = torch.tensor([label])
    with torch.no_grad():
        naive = softmax(O)
        stable_log = log_softmax_stable(O)
        return Comparison(
            logits=list(logits), label=label, naive_softmax=naive[0].tolist(),
            stable_softmax=torch.exp(stable_log)[0].tolist(),
            naive_loss=float(cross_entropy(naive, y)[0]),
            stable_loss=float(-stable_log[0, label]) + 0.0,  # + 0.0: no "-0" on screen
            torch_loss=float(F.cross_entropy(O, y)))


def parse_logits(text: str) -> list[float]:
    """'1000, 0, -5' -> [1000.0, 0.0, -5.0]; ValueError with the bad item named."""
    values = parse_numbers(text)
    if not values:
        raise ValueError("give at least one logit, e.g. 1000,0,-5")
    return values


def report(c: Comparison) -> str:
    """A plain-text table of a comparison."""
    lines = [f"logits {c.logits}, true class {c.label}", "",
             f"{'class':>5}  {'logit':>10}  {'naive softmax':>14}  {'stable softmax':>14}"]
    for i, (o, pn, ps) in enumerate(zip(c.logits, c.naive_softmax, c.stable_softmax)):
        lines.append(f"{i:>5}  {o:>10g}  {pn:>14.6g}  {ps:>14.6g}")
    lines += ["", f"cross-entropy, naive -log(softmax):   {c.naive_loss:g}",
              f"cross-entropy, LogSumExp form:        {c.stable_loss:g}",
              f"cross-entropy, torch F.cross_entropy: {c.torch_loss:g}", "", c.verdict]
    return "\n".join(lines)
