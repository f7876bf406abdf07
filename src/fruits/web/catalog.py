"""Everything the dashboard knows about a run: every photo's predicted class and score, the evaluation, the
photos and the identify service.

Start-up does work linear in the number of photos, in numpy, and nothing per pair of photos:
- A run with a linear classifier (OUTPUT/classifier/, fitted by `fruits run`) and a Test split: every photo's
  predicted class and score come from that classifier, in one matrix product per block of photos (seconds at
  100,000 photos). The Test photos were never used to fit it, so the evaluation on them is honest. A photo's
  nearest reference photos (the page's "most similar photos" and the votes its sentence quotes) are searched when
  a page first asks for them, in one batch per page, and kept for the most recently asked photos.
- Otherwise (an older run, a run of one label, or a run without a Test split, whose evaluation needs each
  reference judged by the others): every photo is classified by the kNN at start-up, a reference photo by the
  other references (leave-one-out), with the neighbour-search index (fruits.neighbours).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..classify import TEST, TRAINING, Evaluation, KnnClassifier, LinearModel, assess, evaluate_predictions, \
    reference_mask
from ..identify import FruitFacts, Identifier
from ..identify.service import load_linear_model
from ..run_output import RunOutput, Store, open_run_output
from .i18n import Messages
from .media import Photos
from .sentences import explain
from .settings import Settings

log = logging.getLogger(__name__)

SORTS = ("name", "score_asc", "score_desc")
# Photos predicted per matrix product: bounds the (block x classes) float64 probabilities to a few MB.
PREDICTION_BLOCK = 8192
# Photos whose nearest references are kept once a page asked for them (a few hundred bytes each).
NEIGHBOURS_KEPT = 20_000
# Photos described (brightness, hue) for the comparison histograms: a fixed sample spread over the labels, so
# the histograms' shapes are those of all photos without reading every photo of a large run.
MEASURE_SAMPLE = 2000


class ImageNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ImageFilter:
    label: str | None = None
    split: str | None = None
    predicted: str | None = None
    min_score: float | None = None  # 0..1
    max_score: float | None = None  # 0..1
    mistakes: bool = False
    sort: str = "name"


@dataclass(frozen=True)
class Predictions:
    """Every photo's predicted class and the score of that class, as the pages show them."""

    classifier: str  # "logistic" (the run's linear classifier) or "knn"
    classes: tuple[str, ...]
    reference_rows: np.ndarray  # (n_ref,) rows of the run that are references
    predicted: np.ndarray  # (n,) object: predicted class
    score: np.ndarray  # (n,) float64


@dataclass(frozen=True)
class Nearby:
    """A few photos' nearest references, as the kNN found them (a reference photo without itself)."""

    indices: np.ndarray  # (m, k) rows of the reference set, nearest first
    distances: np.ndarray  # (m, k)
    votes: np.ndarray  # (m, C) references of each kNN class among the k
    familiarity: np.ndarray  # (m,)


def linear_predictions(model: LinearModel, coords: np.ndarray,
                       block: int = PREDICTION_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class codes (n,), probability of that class (n,)): one matrix product per block of photos."""
    n = len(coords)
    best = np.empty(n, dtype=np.int64)
    score = np.empty(n, dtype=np.float64)
    for start in range(0, n, block):
        probabilities = model.probabilities(coords[start:start + block])
        chosen = probabilities.argmax(axis=1)
        best[start:start + block] = chosen
        score[start:start + block] = probabilities[np.arange(len(chosen)), chosen]
    return best, score


def stratified_sample(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Up to `size` rows, sorted, as evenly spread over the labels as they allow (fixed seed: the same rows at
    every start)."""
    n = len(labels)
    if n <= size:
        return np.arange(n)
    _, codes = np.unique(np.asarray([str(label) for label in labels]), return_inverse=True)
    order = np.random.default_rng(seed).permutation(n)
    shuffled = codes[order]
    by_label = np.argsort(shuffled, kind="stable")
    grouped = shuffled[by_label]
    rank = np.empty(n, dtype=np.int64)  # rank of each shuffled row among the rows of its label
    rank[by_label] = np.arange(n) - np.searchsorted(grouped, grouped, side="left")
    return np.sort(order[np.argsort(rank, kind="stable")[:size]])


class _NeighbourCache:
    """Nearest references of photos, searched in batches when first asked for, the most recent ones kept."""

    def __init__(self, classifier: KnnClassifier, coords: np.ndarray, own: np.ndarray | None,
                 kept: int = NEIGHBOURS_KEPT):
        self.classifier = classifier
        self.coords = coords
        self.own = own  # own[row]: the photo's own reference index (never its neighbour), or -1
        self.kept = kept
        self._found: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, rows: np.ndarray) -> Nearby:
        rows = [int(r) for r in rows]
        with self._lock:
            known = {row: self._found[row] for row in set(rows) if row in self._found}
            for row in known:
                self._found.move_to_end(row)
        missing = sorted(set(rows) - known.keys())
        if missing:
            # Searched outside the lock: two pages asking for the same photo at once only search it twice.
            exclude = self.own[missing] if self.own is not None else None
            result = self.classifier.classify(self.coords[missing], exclude=exclude)
            # Copies, so a kept row does not keep its whole batch's arrays alive.
            found = {row: (result.neighbours.indices[i].copy(), result.neighbours.distances[i].copy(),
                           result.votes[i].copy(), float(result.familiarity[i])) for i, row in enumerate(missing)}
            known.update(found)
            with self._lock:
                self._found.update(found)
                while len(self._found) > self.kept:
                    self._found.popitem(last=False)
        entries = [known[row] for row in rows]
        return Nearby(np.stack([e[0] for e in entries]), np.stack([e[1] for e in entries]),
                      np.stack([e[2] for e in entries]), np.asarray([e[3] for e in entries]))


class _Classified:
    """Every photo's neighbours, computed at start-up (the kNN path)."""

    def __init__(self, classification):
        self.found = classification

    def lookup(self, rows: np.ndarray) -> Nearby:
        rows = np.asarray(rows, dtype=np.int64)
        found = self.found
        return Nearby(found.neighbours.indices[rows], found.neighbours.distances[rows], found.votes[rows],
                      found.familiarity[rows])


class Catalog:
    def __init__(self, run: RunOutput, settings: Settings, facts: FruitFacts | None = None):
        started = time.monotonic()
        self.run = run
        self.settings = settings
        self.facts = facts or FruitFacts.load()
        images = run.images
        linear = load_linear_model(run)
        has_test = bool(np.any(images.splits == TEST))
        if linear is not None and has_test:
            reference_rows = np.nonzero(reference_mask(images.labels, images.splits))[0]
            self.knn = KnnClassifier(images.coords[reference_rows], list(images.labels[reference_rows]),
                                     settings.neighbours)
            best, score = linear_predictions(linear, images.coords)
            self.assessment = Predictions("logistic", linear.classes, reference_rows,
                                          np.asarray(linear.classes, dtype=object)[best], score)
            own = np.full(len(images), -1, dtype=np.int64)
            own[reference_rows] = np.arange(len(reference_rows))
            self._nearby = _NeighbourCache(self.knn, images.coords, own if len(reference_rows) > 1 else None)
        else:
            found = assess(images.coords, images.labels, images.splits, settings.neighbours)
            self.knn = found.classifier
            self.assessment = Predictions("knn", found.classifier.classes, found.reference_rows, found.predicted,
                                          found.score)
            self._nearby = _Classified(found.classification)
        predictions = self.assessment
        self.evaluation: Evaluation = evaluate_predictions(
            predictions.predicted, predictions.reference_rows, predictions.classes, images.labels, images.splits,
            self.knn.k, predictions.classifier)
        self.is_reference = np.zeros(len(images), dtype=bool)
        self.is_reference[predictions.reference_rows] = True
        labelled = np.asarray([label is not None for label in images.labels], dtype=bool)
        # 1 right, 0 wrong, -1 unlabelled (nothing to compare with)
        self.correct = np.full(len(images), -1, dtype=np.int8)
        self.correct[labelled] = (images.labels[labelled] == predictions.predicted[labelled]).astype(np.int8)
        self._knn_position = {c: i for i, c in enumerate(self.knn.classes)}
        self.photos = Photos(run, workers=settings.describe_workers)
        self.identifier = Identifier(run, self.knn, predictions.reference_rows, self.facts,
                                     linear=linear if linear is not None else False)
        self.labels: list[str] = sorted({str(v) for v in images.labels[labelled]})
        present = {s for s in images.splits if s is not None}
        self._splits = [s for s in (TRAINING, TEST) if s in present]
        self.measure_sample = stratified_sample(images.labels, MEASURE_SAMPLE)
        how = ("with the run's logistic classifier (neighbours of a photo found when a page asks)"
               if predictions.classifier == "logistic" else f"with k={self.knn.k} neighbours")
        log.info("classified %d photos %s in %.1f s", len(images), how, time.monotonic() - started)

    @classmethod
    def load(cls, settings: Settings, store: Store | None = None) -> Catalog:
        settings = settings.validated()
        return cls(open_run_output(settings.output, store), settings)

    # --- lookup ---------------------------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self.assessment.classes

    @property
    def splits(self) -> list[str]:
        return list(self._splits)

    @property
    def k(self) -> int:
        return self.knn.k

    def row(self, image_id: str) -> int:
        row = self.run.images.row_of.get(image_id)
        if row is None:
            raise ImageNotFound(image_id)
        return row

    def summaries(self, rows, t: Messages | None = None) -> list[dict]:
        """What a page or the API says about each photo (one neighbour search for all of them)."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        nearby = self._nearby.lookup(np.asarray(rows))
        return [self._summary(row, nearby, i, t) for i, row in enumerate(rows)]

    def summary(self, row: int, t: Messages | None = None) -> dict:
        """What a page or the API says about one photo; its sentence in `t`'s language (English without)."""
        return self.summaries([row], t)[0]

    def _summary(self, row: int, nearby: Nearby, i: int, t: Messages | None) -> dict:
        images = self.run.images
        predicted = str(self.assessment.predicted[row])
        score = float(self.assessment.score[row])
        position = self._knn_position.get(predicted)
        votes = int(nearby.votes[i, position]) if position is not None else 0
        k = int(nearby.indices.shape[1])
        correct = int(self.correct[row])
        return {
            "id": str(images.ids[row]),
            "label": images.labels[row],
            "split": images.splits[row],
            "predicted": predicted,
            "score": score,
            "votes": votes,
            "neighbours_considered": k,
            "correct": None if correct < 0 else bool(correct),
            "is_reference": bool(self.is_reference[row]),
            "sentence": explain(t or Messages("en"), predicted, score, votes, k, float(nearby.familiarity[i]),
                                self.facts.kind_for(predicted)),
        }

    def measures(self, rows=()) -> dict[str, np.ndarray]:
        """Brightness and dominant hue of a fixed sample of photos (MEASURE_SAMPLE, spread over the labels) and
        of `rows`, for the comparison histograms; NaN for the other photos and when unknown."""
        wanted = np.union1d(self.measure_sample, np.asarray(list(rows), dtype=np.int64)).astype(np.int64)
        described = self.photos.describe(wanted)
        n = len(self.run.images)
        brightness, hue = np.full(n, np.nan), np.full(n, np.nan)
        for row, description in zip(wanted, described):
            if description is not None:
                brightness[row] = description.brightness
                if description.hue is not None:
                    hue[row] = description.hue
        return {"brightness": brightness, "hue": hue}

    def neighbours(self, row: int, count: int | None = None) -> list[tuple[int, float]]:
        """The photo's nearest reference photos (itself excluded), nearest first, as (row, distance)."""
        found = self._nearby.lookup(np.asarray([row]))
        count = count or self.settings.gallery_size
        refs = self.assessment.reference_rows
        return [(int(refs[i]), float(d)) for i, d in zip(found.indices[0][:count], found.distances[0][:count])]

    def all_neighbour_rows(self, row: int) -> list[int]:
        """All k neighbours that voted for this photo's class."""
        return [r for r, _ in self.neighbours(row, self.k)]

    # --- browse ---------------------------------------------------------------------------------------------

    def search(self, query: ImageFilter) -> np.ndarray:
        images = self.run.images
        keep = np.ones(len(images), dtype=bool)
        if query.label:
            keep &= images.labels == query.label
        if query.split:
            keep &= images.splits == query.split
        if query.predicted:
            keep &= self.assessment.predicted == query.predicted
        if query.min_score is not None:
            keep &= self.assessment.score >= query.min_score - 1e-12
        if query.max_score is not None:
            keep &= self.assessment.score <= query.max_score + 1e-12
        if query.mistakes:
            keep &= self.correct == 0
        rows = np.nonzero(keep)[0]
        if query.sort == "score_asc":
            rows = rows[np.argsort(self.assessment.score[rows], kind="stable")]
        elif query.sort == "score_desc":
            rows = rows[np.argsort(-self.assessment.score[rows], kind="stable")]
        return rows

    def mistakes(self) -> list[int]:
        return [int(r) for r in np.nonzero(self.correct == 0)[0]]

    def run_summary(self) -> dict:
        manifest = self.run.manifest
        return {
            "output": self.run.location,
            "n_images": len(self.run.images),
            "n_errors": manifest.n_errors,
            "classes": list(self.classes),
            "splits": self.splits,
            "n_reference": int(len(self.assessment.reference_rows)),
            "classifier": self.assessment.classifier,
            "k_pca": manifest.k,
            "cumulative_variance": manifest.cumulative_variance,
            "image_size": manifest.image_size,
            "engine": manifest.engine,
            "weights": manifest.weights.source,
            "weights_warning": manifest.weights.warning,
            "neighbours": self.k,
            "finished_at": manifest.finished_at,
        }
