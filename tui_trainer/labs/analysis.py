"""Beyond accuracy: confusion matrix, per-class and top-k accuracy, decision rules that may reject.

The notes' exercise 4: the most probable class is not always the best answer. When a wrong answer
costs more than no answer (a diagnosis), a classifier may abstain below a confidence threshold.
`reject_curve` shows what that buys: accuracy on the examples it answers against the fraction it
answers (coverage). All functions take the (N, 10) test probabilities the training loop already
computes at each epoch end, so nothing is evaluated twice.
"""

from __future__ import annotations

import torch

from ..core.labels import TEXT_LABELS

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def confusion_matrix(
    probs: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """(true, predicted) counts: row i, column j = images of class i predicted as j."""
    preds = probs.argmax(dim=1)
    index = labels.long() * num_classes + preds
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes,
                                                                              num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> list[float]:
    """Recall of each class: the diagonal over the row sums (0 for an empty class)."""
    totals = confusion.sum(dim=1).clamp(min=1)
    return (confusion.diag().float() / totals.float()).tolist()


def topk_accuracy(probs: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of images whose true class is among the k most probable."""
    top = probs.topk(k, dim=1).indices
    return float((top == labels.long()[:, None]).any(dim=1).float().mean())


def reject_curve(probs: torch.Tensor, labels: torch.Tensor,
                 thresholds=THRESHOLDS) -> list[dict[str, float]]:
    """For each threshold: coverage (answered / all) and accuracy on the answered images (None
    when no image reaches the threshold: there is no accuracy of nothing, and JSON has no NaN)."""
    confidence, preds = probs.max(dim=1)
    right = preds == labels.long()
    rows = []
    for t in thresholds:
        answered = confidence >= t
        n = int(answered.sum())
        rows.append({"threshold": t, "coverage": n / len(labels) if len(labels) else 0.0,
                     "accuracy": float(right[answered].float().mean()) if n else None})
    return rows


def analyse(probs: torch.Tensor, labels: torch.Tensor) -> dict:
    """Everything above as one JSON-ready dict (written to analysis.json each epoch)."""
    cm = confusion_matrix(probs, labels)
    return {"classes": list(TEXT_LABELS), "confusion": cm.tolist(),
            "per_class_accuracy": per_class_accuracy(cm),
            "top1": topk_accuracy(probs, labels, 1), "top2": topk_accuracy(probs, labels, 2),
            "top3": topk_accuracy(probs, labels, 3), "reject_curve": reject_curve(probs, labels)}
