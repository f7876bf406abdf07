"""What a confusion matrix says, in lists a person can read at 114+ classes: the most confused pairs and every
class's recall, worst first. Pure functions of (classes, confusion matrix), as `classify.evaluate` gives them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConfusedPair:
    true: str  # the class the photos really show
    predicted: str  # what they were taken for
    count: int  # photos of `true` named `predicted`
    share: float  # count / photos of `true` (0..1)


@dataclass(frozen=True)
class ClassRecall:
    name: str
    n: int  # evaluated photos of this class
    n_correct: int
    recall: float | None  # n_correct / n; None when the class has no evaluated photo
    taken_for: str | None  # the class its photos are most often mistaken for, if any


def _checked(classes: Sequence[str], confusion) -> np.ndarray:
    matrix = np.asarray(confusion)
    if matrix.ndim != 2 or matrix.shape != (len(classes), len(classes)):
        raise ValueError(f"a confusion matrix of {len(classes)} classes must be {len(classes)}x{len(classes)}, "
                         f"got shape {matrix.shape}")
    if matrix.size and (matrix.min() < 0):
        raise ValueError("a confusion matrix counts photos: no negative cell")
    return matrix


def confused_pairs(classes: Sequence[str], confusion, limit: int | None = 20) -> list[ConfusedPair]:
    """Off-diagonal cells with at least one photo, most photos first (then the larger share of the true class,
    then by names, so the order is stable)."""
    matrix = _checked(classes, confusion)
    totals = matrix.sum(axis=1)
    pairs = [ConfusedPair(str(classes[t]), str(classes[p]), int(matrix[t, p]), float(matrix[t, p] / totals[t]))
             for t, p in zip(*np.nonzero(matrix)) if t != p]
    pairs.sort(key=lambda pair: (-pair.count, -pair.share, pair.true, pair.predicted))
    return pairs if limit is None else pairs[:limit]


def recall_by_class(classes: Sequence[str], confusion) -> list[ClassRecall]:
    """One entry per class, the worst recall first; classes without evaluated photos last, by name."""
    matrix = _checked(classes, confusion)
    rows = []
    for i, name in enumerate(classes):
        n, correct = int(matrix[i].sum()), int(matrix[i, i])
        wrong = matrix[i].copy()
        wrong[i] = 0
        taken_for = str(classes[int(wrong.argmax())]) if wrong.any() else None
        rows.append(ClassRecall(str(name), n, correct, correct / n if n else None, taken_for))
    rows.sort(key=lambda r: (r.recall is None, r.recall if r.recall is not None else 0.0, r.name))
    return rows
