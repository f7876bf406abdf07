"""Classifiers in the run's PCA space: k nearest reference photos (kNN), and a linear model on the same coordinates.

Pure numpy plus a neighbour-search library. The references are the labelled `Training` photos, or every labelled
photo when the run has no split. A class's kNN score is its weighted share of the k nearest references, where a
closer reference counts more: weight = 1 / (distance + s), with s the typical distance from a reference to its
own nearest neighbour. The softening s keeps one near-duplicate from outvoting all the others, so the score stays
close to the plain vote share that the sentence shown to people quotes ("18 of the 20 most similar photos are
lemons"). Options measured by benchmarks/identify_levers.py: class-balanced votes (a label with 100 studio photos
must not drown one with 40 real ones) and cosine distance on whitened coordinates.

Nothing here is O(n^2) in the number of references: neighbours come from a search index (fruits.neighbours), and
the scale of "close" is measured on a bounded sample of the references.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import UsageError
from .layout import SPLITS
from .neighbours import NeighbourIndex

TRAINING, TEST = SPLITS
DEFAULT_NEIGHBOURS = 20
SPACES = ("euclidean", "cosine")
# References whose own neighbours measure the scale of the space (softening, familiarity): bounded, so start-up
# stays linear in the number of references.
SCALE_SAMPLE = 2000


def validate_neighbours(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise UsageError(f"bad --neighbours {k!r}: give a whole number of neighbours from 1 to 1000 (default 20)")
    return k


@dataclass(frozen=True)
class Neighbours:
    indices: np.ndarray  # (m, k) rows of the reference set, nearest first
    distances: np.ndarray  # (m, k) distances in the classifier's space


@dataclass(frozen=True)
class Classification:
    """For m queries: each class's score and neighbour count, and the neighbours themselves."""

    classes: tuple[str, ...]
    scores: np.ndarray  # (m, C), rows sum to 1
    votes: np.ndarray  # (m, C) how many of the k neighbours have each class
    neighbours: Neighbours
    # Share of (sampled) reference photos whose k-th nearest other reference is at least as far as this query's
    # nearest reference. 0 means the query is farther from every reference than any reference is from its k-th
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


class Space:
    """How coordinates are compared: as they are (Euclidean), or whitened (each component divided by its spread
    over the references) and scaled to unit length, so the Euclidean distance ranks like the cosine one."""

    def __init__(self, kind: str, reference: np.ndarray):
        if kind not in SPACES:
            raise ValueError(f"unknown space {kind!r}: one of {SPACES}")
        self.kind = kind
        if kind == "euclidean":  # coordinates as they are: no spread to measure (seconds at 100,000 photos)
            self.scale = np.ones(reference.shape[1])
            return
        spread = reference.std(axis=0) if len(reference) > 1 else np.ones(reference.shape[1])
        self.scale = 1.0 / np.where(spread > 1e-12, spread, 1.0)

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        coords = np.atleast_2d(np.asarray(coords, dtype=np.float64))
        if self.kind == "euclidean":
            return coords
        white = coords * self.scale
        norms = np.linalg.norm(white, axis=1, keepdims=True)
        return white / np.where(norms > 1e-12, norms, 1.0)


class KnnClassifier:
    def __init__(self, reference: np.ndarray, labels: Sequence[str], k: int = DEFAULT_NEIGHBOURS,
                 balance: bool = False, space: str = "euclidean"):
        reference = np.asarray(reference, dtype=np.float64)
        if reference.ndim != 2 or reference.shape[0] == 0:
            raise UsageError("no labelled reference photo: the classifier needs at least one")
        if len(labels) != reference.shape[0] or any(label is None for label in labels):
            raise ValueError("every reference needs one label")
        validate_neighbours(k)
        self.space = Space(space, reference)
        # Only the index keeps the references (float32): no float64 copy outlives the constructor.
        points = self.space(reference)
        self.labels = np.asarray(labels, dtype=object)
        self.classes: tuple[str, ...] = tuple(sorted({str(label) for label in labels}))
        self.codes = np.searchsorted(np.asarray(self.classes, dtype=object), self.labels)
        self.k = min(k, reference.shape[0])
        counts = np.bincount(self.codes, minlength=len(self.classes)).astype(np.float64)
        # Class-balanced: a neighbour's vote is divided by how many references its class has (times the mean, so
        # a balanced set votes as before).
        self.class_weight = (counts.mean() / counts) if balance else np.ones(len(self.classes))
        self.balance = balance
        self.size = reference.shape[0]
        self.index = NeighbourIndex(points)
        # The scale of "close" (nearest) and of "still similar" (k-th nearest) in this space, from a fixed sample
        # of references, each judged by the others.
        n_ref = reference.shape[0]
        if n_ref > 1:
            sample = np.arange(n_ref) if n_ref <= SCALE_SAMPLE else np.sort(
                np.random.default_rng(0).choice(n_ref, SCALE_SAMPLE, replace=False))
            own = self._search(points[sample], self.k, exclude=sample).distances
            nearest, reach = own[:, 0], own[:, -1]
        else:
            nearest = reach = np.ones(1)
        self.reference_reach = np.sort(reach)
        positive = nearest[nearest > 0]
        self.softening = float(np.median(positive)) if positive.size else 1.0

    def _search(self, points: np.ndarray, k: int, exclude: np.ndarray | None = None) -> Neighbours:
        n_ref = self.size
        excluding = exclude is not None and bool(np.any(exclude >= 0))
        k = min(k, n_ref - (1 if excluding else 0))
        if k < 1:
            raise UsageError("only one reference photo: nothing to compare it with")
        if not excluding:
            distances, indices = self.index.search(points, k)
            return Neighbours(indices, distances)
        distances, indices = self.index.search(points, min(k + 1, n_ref))
        own = indices == np.asarray(exclude)[:, None]
        distances = np.where(own, np.inf, distances)
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return Neighbours(np.take_along_axis(indices, order, axis=1), np.take_along_axis(distances, order, axis=1))

    def neighbours(self, queries: np.ndarray, k: int | None = None, exclude: np.ndarray | None = None) -> Neighbours:
        """The k nearest references of each query; `exclude[i]` (a reference row, or -1) is never returned for
        query i, so a reference photo is judged by the others (leave-one-out), not by itself."""
        return self._search(self.space(queries), k or self.k, exclude)

    def classify(self, queries: np.ndarray, exclude: np.ndarray | None = None) -> Classification:
        found = self.neighbours(queries, exclude=exclude)
        codes = self.codes[found.indices]
        weights = self.class_weight[codes] / (found.distances + self.softening)
        n_classes = len(self.classes)
        rows = np.repeat(np.arange(len(codes)), codes.shape[1])
        scores = np.zeros((len(codes), n_classes))
        np.add.at(scores, (rows, codes.ravel()), weights.ravel())
        votes = np.zeros((len(codes), n_classes), dtype=np.int32)  # 100,000 photos x 125 labels: 50 MB
        np.add.at(votes, (rows, codes.ravel()), 1)
        scores /= scores.sum(axis=1, keepdims=True)
        nearest = found.distances[:, 0]
        familiarity = 1.0 - np.searchsorted(self.reference_reach, nearest, side="left") / len(self.reference_reach)
        return Classification(self.classes, scores, votes, found, familiarity)


def kind_scores(label_scores: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """(m, C) label scores -> (m, K) kind scores: a kind's score is the sum of its labels' (votes per kind).
    `membership` is (C, K), 1 where label c is of kind k."""
    return np.asarray(label_scores) @ membership


@dataclass(frozen=True)
class LinearModel:
    """Multinomial logistic regression on standardised PCA coordinates: p = softmax(W (x - mean) / scale + b).
    Fitted by fruits.spark.classifier at the end of `fruits run`; applying it is pure numpy."""

    classes: tuple[str, ...]
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    coefficients: np.ndarray  # (C, d)
    intercepts: np.ndarray  # (C,)
    about: dict

    def probabilities(self, coords: np.ndarray) -> np.ndarray:
        x = (np.atleast_2d(np.asarray(coords, dtype=np.float64)) - self.mean) / self.scale
        logits = x @ self.coefficients.T + self.intercepts
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {"format": "fruits-linear-1", "classes": list(self.classes), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coefficients": self.coefficients.tolist(),
                "intercepts": self.intercepts.tolist(), "about": self.about}

    @classmethod
    def from_dict(cls, document: dict) -> LinearModel:
        if document.get("format") != "fruits-linear-1":
            raise ValueError(f"unknown classifier format {document.get('format')!r}")
        classes = tuple(str(c) for c in document["classes"])
        mean = np.asarray(document["mean"], dtype=np.float64)
        scale = np.asarray(document["scale"], dtype=np.float64)
        coefficients = np.asarray(document["coefficients"], dtype=np.float64)
        intercepts = np.asarray(document["intercepts"], dtype=np.float64)
        if coefficients.shape != (len(classes), len(mean)) or intercepts.shape != (len(classes),) \
                or scale.shape != mean.shape or np.any(scale <= 0):
            raise ValueError("classifier arrays have inconsistent shapes")
        return cls(classes, mean, scale, coefficients, intercepts, dict(document.get("about") or {}))

    @classmethod
    def fit_numpy(cls, coords: np.ndarray, labels: Sequence[str], regularisation: float = 1e-3,
                  iterations: int = 300) -> LinearModel:
        """A quick fit for benchmarks and tests (a fixed number of full-batch gradient steps with Nesterov momentum,
        the std without correction), kept as the benchmarks' figures were measured with it; the product's model
        comes from fruits.spark.classifier (fruits.logistic's L-BFGS on the driver, or pyspark.ml)."""
        coords = np.asarray(coords, dtype=np.float64)
        classes = tuple(sorted({str(label) for label in labels}))
        y = np.searchsorted(np.asarray(classes, dtype=object), np.asarray(labels, dtype=object))
        mean, scale = coords.mean(axis=0), coords.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        x = (coords - mean) / scale
        n, d = x.shape
        onehot = np.zeros((n, len(classes)))
        onehot[np.arange(n), y] = 1.0
        w, b = np.zeros((len(classes), d)), np.zeros(len(classes))
        vw, vb = np.zeros_like(w), np.zeros_like(b)
        step = 1.0 / (0.25 * float(np.mean(np.sum(x * x, axis=1))) + regularisation + 1.0)
        for _ in range(iterations):
            lw, lb = w + 0.9 * vw, b + 0.9 * vb
            logits = x @ lw.T + lb
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            gw = (p - onehot).T @ x / n + regularisation * lw
            gb = (p - onehot).mean(axis=0)
            vw, vb = 0.9 * vw - step * gw, 0.9 * vb - step * gb
            w, b = w + vw, b + vb
        return cls(classes, mean, scale, w, b, {"fitted_by": "numpy", "regularisation": regularisation})


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
    classifier: str = "knn"  # what named the photos: "knn" or "logistic" (the run's linear classifier)

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
            "classifier": self.classifier,
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
            "per_class_recall": self.per_class_recall(),
        }


def evaluate(assessment: Assessment, labels: np.ndarray, splits: np.ndarray) -> Evaluation:
    """Top-1 accuracy and confusion matrix of the kNN on the Test split; leave-one-out over the references
    without one."""
    return evaluate_predictions(assessment.predicted, assessment.reference_rows, assessment.classifier.classes,
                                labels, splits, assessment.classifier.k)


def evaluate_predictions(predicted: np.ndarray, reference_rows: np.ndarray, known: Sequence[str],
                         labels: np.ndarray, splits: np.ndarray, k: int, classifier: str = "knn") -> Evaluation:
    """Top-1 accuracy and confusion matrix of `predicted` (a class per photo) on the Test split, or over the
    references when the run has none (their predictions must then be leave-one-out). Vectorised: no Python
    loop over the photos."""
    labels = np.asarray(labels, dtype=object)
    test = (np.asarray(splits, dtype=object) == TEST) & np.asarray([label is not None for label in labels])
    if test.any():
        rows, method = np.nonzero(test)[0], "test split"
    else:
        rows, method = np.asarray(reference_rows, dtype=np.int64), "leave-one-out"
    truth = np.asarray([str(t) for t in labels[rows]], dtype=object)
    guessed = np.asarray([str(p) for p in np.asarray(predicted, dtype=object)[rows]], dtype=object)
    classes = tuple(sorted(set(truth.tolist()) | set(guessed.tolist()) | set(known)))
    names = np.asarray(classes, dtype=object)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (np.searchsorted(names, truth), np.searchsorted(names, guessed)), 1)
    return Evaluation(method, len(rows), int(np.trace(confusion)), k, classes, confusion, classifier)


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
