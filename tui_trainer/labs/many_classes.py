"""The many-classes lab: the notes' exercise 5, measured.

Exercise 5 asks what happens to softmax regression with a very large number of classes, as when
the next word is predicted from a vocabulary. For each V this lab builds the book's output layer
(W ~ N(0, 0.01) of V rows of 784, b = 0) on a batch of 256 inputs shaped like the book's images
(784 values in [0, 1]) and measures:

- at initialisation, the true class's probability (about 1/V) and the loss (about log V): the
  model starts out guessing among V classes;
- the cost of one training step of the output layer (forward, backward, update): its time,
  timed here, and the memory of the tensors it holds (weights, their gradient, the logits and
  theirs), which grow in proportion to V;
- how little gradient reaches most classes: a batch has a target in at most 256 classes; every
  other class is only pushed down, by a gradient far smaller than a target's;
- a remedy, sampled softmax: the true class and S shared negatives drawn uniformly, with the
  log-expected-count correction and accidental hits removed, so a step touches S + 256 rows of W
  instead of V. Its speed-up is timed against the full step. Its loss is an estimate, biased
  when the model's probabilities are uneven: the bias is measured on a model that has learned
  word frequencies (Zipf's law, p_j proportional to 1 / (j + 1), as biases b_j = log p_j, with
  targets drawn from it), against the full softmax's loss on the same batch.

Time is measured on this machine (median of a few steps); memory is the tensors' sizes, not
the process's. No data set is needed: the exercise is about the output layer.
"""

from __future__ import annotations

import math
import statistics
import textwrap
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_CLASSES = (10, 100, 1_000, 10_000, 100_000)
MAX_CLASSES = 1_000_000      # a 784 x 1,000,000 layer and its gradient: 6.3 GB
BATCH, INPUTS, SAMPLES = 256, 784, 1024
MAX_SAMPLES = 100_000
MB = 1e6
WIDTH = 74   # the report wraps here: it fits the numerics tab of an 80-column terminal


@dataclass
class ClassesRow:
    """What one number of classes V gives."""

    classes: int
    p_true: float            # mean probability of the true class at initialisation
    p_max: float             # mean largest probability at initialisation
    loss: float              # mean cross-entropy at initialisation
    full_ms: float           # one step of the full softmax layer
    full_mb: float           # its tensors: W, W's gradient, logits and their gradient, b
    classes_hit: int         # classes with a target in the batch
    absent_over_present: float   # gradient norm of a class without a target / with one
    sampled_ms: float | None     # one step of sampled softmax (None: V too small to sample)
    sampled_mb: float | None
    full_loss_zipf: float | None     # the full loss of the word-frequency model
    sampled_loss_zipf: float | None  # sampled softmax's estimate of it (mean over draws)

    @property
    def log_classes(self) -> float:
        return math.log(self.classes)

    @property
    def speedup(self) -> float | None:
        return self.full_ms / self.sampled_ms if self.sampled_ms else None

    @property
    def bias(self) -> float | None:
        if self.sampled_loss_zipf is None or self.full_loss_zipf is None:
            return None
        return self.sampled_loss_zipf - self.full_loss_zipf



def grad_of(t: torch.Tensor) -> torch.Tensor:
    """`t`'s gradient, which the backward() just before filled."""
    if t.grad is None:
        raise RuntimeError("no gradient: backward() did not reach this tensor")
    return t.grad

def parse_classes(text: str) -> list[int]:
    """'10,1000,1e5' -> [10, 1000, 100000]; ValueError naming what is wrong."""
    from ..core.config import parse_numbers
    values = []
    for value in parse_numbers(text):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"a number of classes is a whole number (got {value:g})")
        if not 2 <= value <= MAX_CLASSES:
            raise ValueError(f"a number of classes is from 2 to {MAX_CLASSES:,} (got {value:,.0f})")
        values.append(int(value))
    if not values:
        raise ValueError("give one or more numbers of classes, e.g. 10,1000,100000")
    return sorted(set(values))


def _median_ms(step, repeat: int) -> float:
    # Warm-up until two calls in a row take about as long: the first sizes measured in a
    # process also pay torch's one-time set-up (52 ms against 0.4 ms seen for one warm-up call).
    previous = None
    for _ in range(10):
        start = time.perf_counter()
        step()
        took = time.perf_counter() - start
        if previous is not None and took < 1.5 * previous:
            break
        previous = took
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _repeats(classes: int) -> int:
    """Fewer timed steps where one step takes long (about 1 s at 100,000 classes here)."""
    return 7 if classes <= 10_000 else 3 if classes <= 200_000 else 1


def sampled_logits(X: torch.Tensor, w_true: torch.Tensor, b_true: torch.Tensor,
                   w_neg: torch.Tensor, b_neg: torch.Tensor, y: torch.Tensor,
                   negatives: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, 1 + S) logits of sampled softmax from the rows of W and b that it touches: column 0
    the true class (row i of w_true), then the S negatives, corrected by the log of their
    expected count (S / V each, drawn uniformly) and -inf where a negative is the row's own
    target (an accidental hit). Cross-entropy with target 0 is the sampled loss."""
    true = (X * w_true).sum(1, keepdim=True) + b_true.unsqueeze(1)
    neg = X @ w_neg.t() + b_neg - math.log(len(negatives) / classes)
    neg = neg.masked_fill(negatives.unsqueeze(0) == y.unsqueeze(1), float("-inf"))
    return torch.cat([true, neg], dim=1)


def measure(classes: int, samples: int = SAMPLES, seed: int = 0) -> ClassesRow:
    """Every figure of the lab for `classes` classes."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(BATCH, INPUTS, generator=g)
    y = torch.randint(0, classes, (BATCH,), generator=g)
    W = (torch.randn(classes, INPUTS, generator=g) * 0.01).requires_grad_()  # the book's init
    b = torch.zeros(classes, requires_grad=True)
    lr = 0.1

    logits = X @ W.t() + b
    loss = F.cross_entropy(logits, y)
    loss.backward()
    with torch.no_grad():
        probs = torch.softmax(logits, dim=1)
        p_true = float(probs.gather(1, y.unsqueeze(1)).mean())
        p_max = float(probs.max(1).values.mean())
        norms = grad_of(W).norm(dim=1)
        hit = torch.zeros(classes, dtype=torch.bool)
        hit[y] = True
        absent = float(norms[~hit].mean()) if (~hit).any() else float("nan")
        ratio = absent / float(norms[hit].mean())
    full_mb = (2 * W.numel() + 2 * logits.numel() + 2 * b.numel()) * 4 / MB
    loss_value = float(loss.detach())
    del logits, loss, probs

    def full_step() -> None:
        W.grad = b.grad = None
        F.cross_entropy(X @ W.t() + b, y).backward()
        with torch.no_grad():
            W.sub_(grad_of(W), alpha=lr)
            b.sub_(grad_of(b), alpha=lr)

    full_ms = _median_ms(full_step, _repeats(classes))
    W.grad = b.grad = None
    sampled_ms = sampled_mb = zipf_full = zipf_sampled = None
    if classes > 2 * samples:   # fewer classes than that: sampling saves nothing
        Wd, bd = W.detach(), b.detach()

        def sampled_step() -> None:
            negatives = torch.randint(0, classes, (samples,), generator=g)
            rows = torch.cat([y, negatives])
            w = Wd[rows].requires_grad_()      # only these rows are touched
            c = bd[rows].requires_grad_()
            logits = sampled_logits(X, w[:BATCH], c[:BATCH], w[BATCH:], c[BATCH:], y,
                                    negatives, classes)
            F.cross_entropy(logits, torch.zeros_like(y)).backward()
            with torch.no_grad():
                Wd.index_add_(0, rows, grad_of(w), alpha=-lr)
                bd.index_add_(0, rows, grad_of(c), alpha=-lr)

        sampled_ms = _median_ms(sampled_step, _repeats(classes))
        sampled_mb = (2 * (BATCH + samples) * INPUTS + 2 * BATCH * (1 + samples)) * 4 / MB
        zipf_full, zipf_sampled = _zipf_bias(X, classes, samples, g)
    return ClassesRow(classes, p_true, p_max, loss_value, full_ms, full_mb,
                      int(hit.sum()), ratio, sampled_ms, sampled_mb, zipf_full, zipf_sampled)


@torch.no_grad()
def _zipf_bias(X: torch.Tensor, classes: int, samples: int, g: torch.Generator,
               draws: int = 20) -> tuple[float, float]:
    """(full loss, mean sampled-softmax loss over `draws` draws of negatives) for a model whose
    biases are the log of Zipf word frequencies, on targets drawn from those frequencies."""
    freq = 1.0 / torch.arange(1, classes + 1, dtype=torch.float64)
    freq /= freq.sum()
    y = torch.multinomial(freq, BATCH, replacement=True, generator=g)
    W = torch.randn(classes, INPUTS, generator=g) * 0.01
    b = freq.log().float()
    full = float(F.cross_entropy(X @ W.t() + b, y))
    sampled = []
    for _ in range(draws):
        negatives = torch.randint(0, classes, (samples,), generator=g)
        logits = sampled_logits(X, W[y], b[y], W[negatives], b[negatives], y, negatives, classes)
        sampled.append(float(F.cross_entropy(logits, torch.zeros_like(y))))
    return full, statistics.mean(sampled)


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


QUESTION = ("Exercise 5: with a very large number of classes (the next word of a vocabulary), "
            "each probability becomes tiny: does the model end up guessing, and what does "
            "the output layer cost?")


def report(rows: list[ClassesRow], samples: int = SAMPLES, threads: int | None = None) -> str:
    """Three plain-text tables, WIDTH columns at most, and what they answer."""
    threads = threads or torch.get_num_threads()
    lines = [*textwrap.wrap(QUESTION, WIDTH), "",
             f"At initialisation (the book's W ~ N(0, 0.01), b = 0; {BATCH} random "
             "inputs):",
             f"{'classes V':>10}  {'p(true)':>9}  {'1/V':>9}  {'max p':>9}  {'loss':>7}  "
             f"{'log V':>7}"]
    for r in rows:
        lines.append(f"{r.classes:>10,}  {r.p_true:>9.3g}  {1 / r.classes:>9.3g}  "
                     f"{r.p_max:>9.3g}  {r.loss:>7.3f}  {r.log_classes:>7.3f}")
    lines += ["", f"One step of the output layer (forward, backward, update; {threads} "
                  f"CPU thread{'s' if threads != 1 else ''}):",
              f"{'classes V':>10}  {'full ms':>9}  {'full MB':>9}  {'pushed up':>9}  "
              f"{'absent/hit':>10}"]
    for r in rows:
        lines.append(f"{r.classes:>10,}  {r.full_ms:>9.2f}  {r.full_mb:>9.1f}  "
                     f"{r.classes_hit:>9,}  {_fmt(r.absent_over_present, '>10.2g')}")
    lines += ["  pushed up: classes with a target in the batch; absent/hit: the gradient",
              "  norm of another class's weights against a target's.", "",
              f"Sampled softmax ({samples:,} uniform negatives, log-count correction):",
              f"{'classes V':>10}  {'ms':>7}  {'speed-up':>8}  {'MB':>7}  "
              f"{'Zipf: full loss':>15}  {'sampled':>7}  {'bias':>7}"]
    for r in rows:
        if r.sampled_ms is None:
            lines.append(f"{r.classes:>10,}  {'–':>7}  (at most {2 * samples:,} classes: "
                         "nothing to save)")
            continue
        lines.append(f"{r.classes:>10,}  {r.sampled_ms:>7.2f}  {r.speedup:>7.1f}x  "
                     f"{r.sampled_mb:>7.1f}  {r.full_loss_zipf:>15.3f}  "
                     f"{r.sampled_loss_zipf:>7.3f}  {r.bias:>+7.3f}")
    lines += ["  Zipf: a model that learned word frequencies (p_j ~ 1/(j+1)); bias: the",
              "  sampled loss minus the full loss on the same batch, mean of 20 draws.", ""]
    for answer in answers(rows):
        lines += textwrap.wrap(answer, WIDTH, subsequent_indent="  ")
    return "\n".join(lines)


def answers(rows: list[ClassesRow]) -> list[str]:
    """What the measured numbers answer, in sentences built from them."""
    big, small = rows[-1], rows[0]
    out = [f"- Guessing: at V = {big.classes:,} the true class starts at p = "
           f"{big.p_true:.2g} (1/V = {1 / big.classes:.2g}) and the loss at {big.loss:.2f} "
           f"(log V = {big.log_classes:.2f}); training must lift one class among {big.classes:,}."]
    if big is not small:
        out.append(f"- Cost: from V = {small.classes:,} to {big.classes:,} a step goes from "
                   f"{small.full_ms:.2f} ms to {big.full_ms:.1f} ms and its tensors from "
                   f"{small.full_mb:.1f} MB to {big.full_mb:.0f} MB: the output layer grows "
                   "with V and comes to dominate the model.")
    out.append(f"- Gradient: a batch pushes up {big.classes_hit:,} of {big.classes:,} classes; "
               f"each other class gets {_fmt(big.absent_over_present, '.2g')} of a target's "
               "gradient, so rare classes learn slowly.")
    sampled = [r for r in rows if r.sampled_ms is not None]
    if sampled:
        r = sampled[-1]
        out.append(f"- Remedy: sampled softmax is {r.speedup:.1f}x faster at V = {r.classes:,}, "
                   f"but its loss is an estimate: {r.bias:+.2f} off on a word-frequency model "
                   "(it rarely samples the frequent words): fine to train with, not to report.")
    return out
