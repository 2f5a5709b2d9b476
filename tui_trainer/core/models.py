"""The book's models: softmax regression from scratch and concise, plus a one-hidden-layer MLP.

Every model comes as a `Model`: the network, the per-example loss it is trained with, and how to
turn its output into class probabilities. The book's from-scratch `net` returns probabilities and
its `cross_entropy` takes them (the naive pair, which overflows); the stable variant returns
logits and computes the loss in log space with the LogSumExp trick from the notes' exercise 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, cast

import torch
import torch.nn.functional as F
from torch import nn

NUM_INPUTS, NUM_OUTPUTS, HIDDEN = 784, 10, 256


def softmax(X: torch.Tensor) -> torch.Tensor:
    """The book's softmax from the definition: exp(X) / row sums. Overflows for large inputs."""
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition


def cross_entropy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The book's cross-entropy on probabilities: -log(y_hat[range(n), y]); log(0) gives inf."""
    return -torch.log(y_hat[range(len(y_hat)), y])


def log_softmax_stable(O: torch.Tensor) -> torch.Tensor:
    """log softmax(o)_j = o_j - max(o) - log(sum_k exp(o_k - max(o))): finite for any finite o."""
    shifted = O - O.max(dim=1, keepdim=True).values
    return shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))


def softmax_stable(O: torch.Tensor) -> torch.Tensor:
    """Softmax with the maximum subtracted first, so exp never overflows."""
    return torch.exp(log_softmax_stable(O))


def cross_entropy_stable(O: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on logits in log space (LogSumExp): one finite value per example."""
    m = O.max(dim=1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(O - m).sum(dim=1))
    return lse - O.gather(1, y.unsqueeze(1)).squeeze(1)


def fused_cross_entropy(O: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`cross_entropy_stable` computed by torch's fused log-softmax + NLL kernel."""
    return torch.nn.functional.cross_entropy(O, y, reduction="none")


class SoftmaxScratch(nn.Module):
    """The book's `net`: softmax(X.reshape(-1, 784) @ W + b), W ~ N(0, 0.01), b = 0.

    With `naive=True` the forward pass returns the book's probabilities; otherwise logits, to be
    paired with `cross_entropy_stable`. An `nn.Module` only so checkpoints get a state_dict.
    """

    def __init__(self, num_inputs: int = NUM_INPUTS, num_outputs: int = NUM_OUTPUTS,
                 naive: bool = False) -> None:
        super().__init__()
        W = torch.normal(0, 0.01, size=(num_inputs, num_outputs))   # the book's draw
        # The same values stored column-major (strides 1, 784): BLAS multiplies a batch by it as
        # by nn.Linear's (10 x 784) weight, and autograd keeps the gradient in that layout. On a
        # CPU both the forward product and the weight gradient take about half the time of the
        # row-major (784 x 10) W, whose 10 columns make a poor inner dimension.
        self.W = nn.Parameter(W.t().contiguous().t())
        self.b = nn.Parameter(torch.zeros(num_outputs))
        self.naive = naive

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        O = torch.addmm(self.b, X.reshape((-1, self.W.shape[0])), self.W)  # X @ W + b, fused
        return softmax(O) if self.naive else O


def init_weights(m: nn.Module) -> None:
    """The book's concise initialisation: Linear weights ~ N(0, 0.01)."""
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.01)


@dataclass
class Model:
    """A network with the loss it is trained with and its output-to-probability map."""

    net: nn.Module
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # per-example losses
    probs: Callable[[torch.Tensor], torch.Tensor]               # output -> probabilities
    kind: str
    # A learner's model names the frames of their own file in an error it raises; ours have
    # nothing to add (see usercode.py).
    explain: Callable[[BaseException], BaseException] = lambda exc: exc
    warnings: tuple[str, ...] = ()   # said before the first epoch (a weight that never trains)


def class_templates(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """What a linear model learned, per class: (W as ten rows of the input size, b), detached
    CPU copies; None for a model that is not linear (the MLP's first layer is 256 units, not
    classes). Row k, reshaped to the image's side, is the template class k's score matches."""
    W: torch.Tensor
    b: torch.Tensor
    if isinstance(net, SoftmaxScratch):
        W, b = net.W.t(), net.b
    elif isinstance(net, nn.Sequential) and len(net) == 2 and isinstance(net[1], nn.Linear):
        W, b = net[1].weight, net[1].bias
    else:   # a learner's own net: linear when its only matrix is (inputs, 10) or (10, inputs)
        matrices = [p for p in net.parameters() if p.dim() == 2]
        if len(matrices) != 1 or NUM_OUTPUTS not in matrices[0].shape or \
                matrices[0].shape[0] * matrices[0].shape[1] < 16 * NUM_OUTPUTS:
            return None
        W = matrices[0] if matrices[0].shape[0] == NUM_OUTPUTS else matrices[0].t()
        biases = [p for p in net.parameters() if tuple(p.shape) == (NUM_OUTPUTS,)]
        b = biases[0] if len(biases) == 1 else torch.zeros(NUM_OUTPUTS)
    return W.detach().float().cpu().clone(), b.detach().float().cpu().clone()


def build_model(kind: str = "scratch", softmax_variant: str = "stable",
                num_inputs: int = NUM_INPUTS) -> Model:
    """Build one of the models by name; draws initial weights from torch's global RNG."""
    if kind == "scratch":
        naive = softmax_variant == "naive"
        scratch = SoftmaxScratch(num_inputs, NUM_OUTPUTS, naive=naive)
        if naive:
            return Model(scratch, cross_entropy, lambda p: p, kind)
        # Training uses torch's fused kernel for the same LogSumExp formula (cross_entropy_stable
        # written out; a test checks they agree): one pass forward and backward, no temporaries.
        return Model(scratch, fused_cross_entropy, softmax_stable, kind)
    if kind == "concise":
        net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, NUM_OUTPUTS))
    elif kind == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, HIDDEN), nn.ReLU(),
                            nn.Linear(HIDDEN, NUM_OUTPUTS))
    else:
        raise ValueError(f"unknown model {kind!r}")
    net.apply(init_weights)
    return Model(
        net, nn.CrossEntropyLoss(reduction="none"), lambda o: torch.softmax(o, dim=1), kind
    )


class StackedNet(nn.Module):
    """K copies of one of the book's models as one module; forward gives (B, K, 10) outputs.

    Built from a single model (`template`), whose weights every copy starts from. `unstack(k)`
    gives model k's tensors in the single model's parameter order and shapes.
    """

    def __init__(self, template: nn.Module, k: int) -> None:
        super().__init__()
        self.k = k
        singles: list[torch.Tensor]
        if isinstance(template, SoftmaxScratch):
            self.kind, self.naive = "linear", template.naive
            # The block is W's transpose (10, 784): the K blocks make the (10K, 784) weight.
            singles, self.transposed = [template.W, template.b], [True, False]
        elif isinstance(template, nn.Sequential) and len(template) == 2:
            self.kind, self.naive = "linear", False
            layer = cast(nn.Linear, template[1])
            singles, self.transposed = [layer.weight, layer.bias], [False, False]
        elif isinstance(template, nn.Sequential) and len(template) == 4:
            self.kind, self.naive = "mlp", False
            first, second = cast(nn.Linear, template[1]), cast(nn.Linear, template[3])
            singles = [first.weight, first.bias, second.weight, second.bias]
            self.transposed = [False] * 4
        else:
            raise ValueError(f"cannot stack {type(template).__name__}")
        self.stacked = nn.ParameterList(
            nn.Parameter(torch.stack([(p.detach().t() if t else p.detach())] * k).contiguous())
            for p, t in zip(singles, self.transposed))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        K, X = self.k, X.reshape(X.shape[0], -1)
        if self.kind == "linear":
            weight, bias = self.stacked
            O = F.linear(X, weight.view(-1, weight.shape[-1]), bias.view(-1))
            O = O.view(X.shape[0], K, -1)
            if self.naive:   # the book's softmax, per model: it returns probabilities
                O_exp = torch.exp(O)
                return O_exp / O_exp.sum(-1, keepdim=True)
            return O
        w1, b1, w2, b2 = self.stacked
        H = F.relu(F.linear(X, w1.view(-1, w1.shape[-1]), b1.view(-1)))
        H = H.view(X.shape[0], K, -1).transpose(0, 1)                     # (K, B, 256)
        return torch.baddbmm(b2.unsqueeze(1), H, w2.transpose(1, 2)).transpose(0, 1)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example, per-model losses (B, K): the book's cross-entropy on probabilities for
        the naive model, torch's fused LogSumExp cross-entropy on logits otherwise."""
        B, K, C = out.shape
        if self.naive:
            return -torch.log(out.gather(2, y.view(B, 1, 1).expand(B, K, 1)).squeeze(2))
        # The (N, C, d) form of torch's kernel: classes on dim 1, one target per model. Three
        # times faster here than flattening to (B*K, C) rows with repeated targets.
        return F.cross_entropy(out.transpose(1, 2), y.unsqueeze(1).expand(B, K),
                               reduction="none")

    @torch.no_grad()
    def step_grads(self, X: torch.Tensor, y: torch.Tensor, mean: bool):
        """Outputs (B, K, 10) and per-model losses (B, K) of the linear models with the stable
        loss, their gradients written by hand into `.grad`; None for the other models.

        The gradient of cross-entropy with respect to the logits is softmax(o) - onehot(y), so
        the weights' gradient is one (10K, B) x (B, 784) product and the bias's a sum. On the
        small tensors of a batch, autograd's bookkeeping cost as much as the arithmetic: by
        hand a sweep step takes about two thirds of the time. `mean` scales by 1/B, as
        l.mean().backward() does for torch's optimizers (the book's sgd steps on the sum).
        """
        if self.kind != "linear" or self.naive:
            return None
        weight, bias = self.stacked
        X = X.reshape(X.shape[0], -1)
        B, K = X.shape[0], self.k
        out = F.linear(X, weight.view(-1, weight.shape[-1]), bias.view(-1)).view(B, K, -1)
        # Classes on dim 1: torch's (log-)softmax over a last dimension of 10 is twice as slow.
        log_p = torch.log_softmax(out.transpose(1, 2), dim=1)              # (B, 10, K)
        index = y.view(B, 1, 1).expand(B, 1, K)
        loss = -log_p.gather(1, index).squeeze(1)
        d_out = log_p.exp_()
        d_out.scatter_add_(1, index, torch.full((B, 1, K), -1.0, dtype=d_out.dtype,
                                                device=d_out.device))
        if mean:
            d_out.div_(B)
        d_out = d_out.transpose(1, 2).reshape(B, -1)                        # (B, K * 10)
        weight.grad = (d_out.t() @ X).view_as(weight)
        bias.grad = d_out.sum(0).view_as(bias)
        return out, loss

    def probs(self, out: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, K, 10)."""
        return out if self.naive else torch.softmax(out, dim=-1)

    def unstack(self, k: int, tensors: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Model k's part of `tensors` (default: the weights), as the single model holds them."""
        tensors = list(self.stacked) if tensors is None else tensors
        return [
            (t[k].t() if tr else t[k]).detach().clone() for t, tr in zip(tensors, self.transposed)
        ]

    def zero_model(self, k: int) -> None:
        """Set model k's weights to zero (a diverged model: its outputs stay finite)."""
        with torch.no_grad():
            for p in self.stacked:
                p[k].zero_()
