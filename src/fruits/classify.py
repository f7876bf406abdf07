"""k-nearest neighbours in the run's PCA space: the labelled reference photos are the classifier's memory.

Pure numpy. The references are the labelled `Training` photos, or every labelled photo when the run has no
split. A class's score is its weighted share of the k nearest references, where a closer reference counts more:
weight = 1 / (distance + s), with s the typical distance from a reference to its own nearest neighbour. The
softening s keeps one near-duplicate from outvoting all the others, so the score stays close to the plain vote
share that the sentence shown to people quotes ("18 of the 20 most similar photos are lemons").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import UsageError
from .layout import SPLITS

TRAINING, TEST = SPLITS
DEFAULT_NEIGHBOURS = 20
# Queries are compared with the references in blocks, so memory stays O(block x n_references).
_BLOCK = 1024


def validate_neighbours(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise UsageError(f"bad --neighbours {k!r}: give a whole number of neighbours from 1 to 1000 (default 20)")
    return k


@dataclass(frozen=True)
class Neighbours:
    indices: np.ndarray  # (m, k) rows of the reference set, nearest first
    distances: np.ndarray  # (m, k) Euclidean distances in the PCA space


@dataclass(frozen=True)
class Classification:
    """For m queries: each class's score and neighbour count, and the neighbours themselves."""

    classes: tuple[str, ...]
    scores: np.ndarray  # (m, C), rows sum to 1
    votes: np.ndarray  # (m, C) how many of the k neighbours have each class
    neighbours: Neighbours
    # Share of reference photos whose k-th nearest other reference is at least as far as this query's nearest
    # reference. 0 means the query is farther from every reference than any reference is from its k-th
    # neighbour: it looks unlike the classifier's memory (another background, light, or not a known fruit).
    familiarity: np.ndarray  # (m,)

    @property
    def k(self) -> int:
        return int(self.neighbours.indices.shape[1])

    def predicted(self) -> np.ndarray:
        return self.scores.argmax(axis=1)

    def ranking(self, row: int, top: int | None = None) -> list[tuple[str, float, int]]:
        """(class, score, votes) of one query, best first."""
        order = np.argsort(-self.scores[row], kind="stable")[: top or None]
        return [(self.classes[c], float(self.scores[row, c]), int(self.votes[row, c])) for c in order]


class KnnClassifier:
    def __init__(self, reference: np.ndarray, labels: Sequence[str], k: int = DEFAULT_NEIGHBOURS):
        reference = np.asarray(reference, dtype=np.float64)
        if reference.ndim != 2 or reference.shape[0] == 0:
            raise UsageError("no labelled reference photo: the classifier needs at least one")
        if len(labels) != reference.shape[0] or any(label is None for label in labels):
            raise ValueError("every reference needs one label")
        validate_neighbours(k)
        self.reference = reference
        self.labels = np.asarray(labels, dtype=object)
        self.classes: tuple[str, ...] = tuple(sorted({str(label) for label in labels}))
        self.codes = np.searchsorted(np.asarray(self.classes, dtype=object), self.labels)
        self.k = min(k, reference.shape[0])
        self._norms = np.einsum("ij,ij->i", reference, reference)
        # Leave-one-out distances among the references: the scale of "close" (nearest) and of "still similar"
        # (k-th nearest) in this space.
        if reference.shape[0] > 1:
            own = self.neighbours(reference, exclude=np.arange(reference.shape[0])).distances
            nearest, reach = own[:, 0], own[:, -1]
        else:
            nearest = reach = np.ones(1)
        self.reference_reach = np.sort(reach)
        positive = nearest[nearest > 0]
        self.softening = float(np.median(positive)) if positive.size else 1.0

    def neighbours(self, queries: np.ndarray, k: int | None = None, exclude: np.ndarray | None = None) -> Neighbours:
        """The k nearest references of each query; `exclude[i]` (a reference row, or -1) is never returned for
        query i, so a reference photo is judged by the others (leave-one-out), not by itself."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float64))
        n_ref = self.reference.shape[0]
        k = min(k or self.k, n_ref - (1 if exclude is not None and np.any(exclude >= 0) else 0))
        if k < 1:
            raise UsageError("only one reference photo: nothing to compare it with")
        indices = np.empty((len(queries), k), dtype=np.int64)
        distances = np.empty((len(queries), k), dtype=np.float64)
        for start in range(0, len(queries), _BLOCK):
            block = queries[start : start + _BLOCK]
            squared = (np.einsum("ij,ij->i", block, block)[:, None] - 2.0 * block @ self.reference.T
                       + self._norms[None, :])
            np.maximum(squared, 0.0, out=squared)
            if exclude is not None:
                rows = np.nonzero(exclude[start : start + _BLOCK] >= 0)[0]
                squared[rows, exclude[start + rows]] = np.inf
            part = np.argpartition(squared, k - 1, axis=1)[:, :k] if k < n_ref else np.tile(np.arange(n_ref), (len(block), 1))
            part_d = np.take_along_axis(squared, part, axis=1)
            order = np.lexsort((part, part_d), axis=1)  # by distance, ties by row: deterministic
            indices[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
            distances[start : start + len(block)] = np.sqrt(np.take_along_axis(part_d, order, axis=1))
        return Neighbours(indices, distances)

    def classify(self, queries: np.ndarray, exclude: np.ndarray | None = None) -> Classification:
        found = self.neighbours(queries, exclude=exclude)
        weights = 1.0 / (found.distances + self.softening)
        codes = self.codes[found.indices]
        n_classes = len(self.classes)
        scores = np.zeros((len(codes), n_classes))
        votes = np.zeros((len(codes), n_classes), dtype=np.int64)
        for c in range(n_classes):
            hit = codes == c
            scores[:, c] = (weights * hit).sum(axis=1)
            votes[:, c] = hit.sum(axis=1)
        scores /= scores.sum(axis=1, keepdims=True)
        nearest = found.distances[:, 0]
        familiarity = 1.0 - np.searchsorted(self.reference_reach, nearest, side="left") / len(self.reference_reach)
        return Classification(self.classes, scores, votes, found, familiarity)


def reference_mask(labels: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """Which photos are the classifier's memory: labelled Training photos, or all labelled ones without a split."""
    labelled = np.asarray([label is not None for label in labels], dtype=bool)
    training = np.asarray([split == TRAINING for split in splits], dtype=bool)
    return labelled & training if training.any() else labelled


@dataclass(frozen=True)
class Assessment:
    """Every photo of a run, classified: references by the other references (leave-one-out), the rest by all."""

    classifier: KnnClassifier
    reference_rows: np.ndarray  # (n_ref,) rows of the run that are references
    classification: Classification  # one row per photo of the run
    predicted: np.ndarray  # (n,) object: predicted class
    score: np.ndarray  # (n,) score of the predicted class


def assess(coords: np.ndarray, labels: np.ndarray, splits: np.ndarray, k: int = DEFAULT_NEIGHBOURS) -> Assessment:
    references = reference_mask(labels, splits)
    reference_rows = np.nonzero(references)[0]
    classifier = KnnClassifier(coords[reference_rows], list(labels[reference_rows]), k)
    # A reference must not vote for itself: map each photo to its own reference row (or -1).
    own = np.full(len(coords), -1, dtype=np.int64)
    own[reference_rows] = np.arange(len(reference_rows))
    result = classifier.classify(coords, exclude=own if len(reference_rows) > 1 else None)
    best = result.predicted()
    predicted = np.asarray([result.classes[c] for c in best], dtype=object)
    return Assessment(classifier, reference_rows, result, predicted, result.scores[np.arange(len(best)), best])


@dataclass(frozen=True)
class Evaluation:
    method: str  # "test split" or "leave-one-out"
    n: int
    n_correct: int
    k: int
    classes: tuple[str, ...]
    confusion: np.ndarray  # (C, C): rows true class, columns predicted class

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else float("nan")

    def per_class_recall(self) -> dict[str, float | None]:
        totals = self.confusion.sum(axis=1)
        return {c: (float(self.confusion[i, i] / totals[i]) if totals[i] else None) for i, c in enumerate(self.classes)}

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "n": self.n,
            "n_correct": self.n_correct,
            "accuracy": self.accuracy,
            "k": self.k,
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
            "per_class_recall": self.per_class_recall(),
        }


def evaluate(assessment: Assessment, labels: np.ndarray, splits: np.ndarray) -> Evaluation:
    """Top-1 accuracy and confusion matrix on the Test split; leave-one-out over the references without one."""
    test = np.asarray([s == TEST and l is not None for s, l in zip(splits, labels)], dtype=bool)
    if test.any():
        rows, method = np.nonzero(test)[0], "test split"
    else:
        rows, method = assessment.reference_rows, "leave-one-out"
    truth = labels[rows]
    predicted = assessment.predicted[rows]
    classes = tuple(sorted(set(map(str, truth)) | set(assessment.classifier.classes)))
    position = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(truth, predicted):
        confusion[position[str(t)], position[str(p)]] += 1
    return Evaluation(method, len(rows), int(np.trace(confusion)), assessment.classifier.k, classes, confusion)


# --- the score in plain words ---------------------------------------------------------------------------------


def certainty_words(score: float) -> str:
    if score >= 0.9:
        return "Very likely"
    if score >= 0.7:
        return "Likely"
    if score >= 0.5:
        return "Probably"
    return "Not sure, perhaps"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def plural(label: str) -> str:
    """'lemon' -> 'lemons', 'raspberry' -> 'raspberries'; a multi-word class name is quoted instead."""
    if not label.isalpha():
        return f'labelled "{label}"'
    lower = label.lower()
    if lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        return label[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh", "o")):
        return label + "es"
    return label + "s"


def explain(label: str, score: float, votes: int, k: int, familiarity: float | None = None) -> str:
    """'Very likely a lemon: 18 of the 20 most similar photos are lemons.'"""
    name = label if label.isalpha() else f'"{label}"'
    sentence = f"{certainty_words(score)} {_article(name.strip(chr(34)))} {name}: {votes} of the {k} most similar photos are {plural(label)}."
    if familiarity is not None and familiarity <= 0.0:
        sentence += (" Take it with care: this photo is farther from the reference photos than they are from each"
                     " other (another background or light, or a fruit they do not show).")
    return sentence
