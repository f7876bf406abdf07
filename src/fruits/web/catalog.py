"""Everything the dashboard knows about a run, computed once at start-up: every photo classified by the kNN
(a reference photo by the *other* references), the evaluation, the photos and the identify service."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..classify import TEST, TRAINING, assess, evaluate, explain
from ..identify import FruitFacts, Identifier
from ..run_output import RunOutput, Store, open_run_output
from .media import Photos
from .settings import Settings

log = logging.getLogger(__name__)

SORTS = ("name", "score_asc", "score_desc")


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


class Catalog:
    def __init__(self, run: RunOutput, settings: Settings, facts: FruitFacts | None = None):
        started = time.monotonic()
        self.run = run
        self.settings = settings
        self.facts = facts or FruitFacts.load()
        images = run.images
        self.assessment = assess(images.coords, images.labels, images.splits, settings.neighbours)
        self.evaluation = evaluate(self.assessment, images.labels, images.splits)
        self.is_reference = np.zeros(len(images), dtype=bool)
        self.is_reference[self.assessment.reference_rows] = True
        self.correct = np.asarray(
            [None if label is None else bool(label == predicted)
             for label, predicted in zip(images.labels, self.assessment.predicted)], dtype=object)
        self.photos = Photos(run, workers=settings.describe_workers)
        self.identifier = Identifier(run, self.assessment.classifier, self.assessment.reference_rows, self.facts)
        self.labels: list[str] = sorted({str(v) for v in images.labels if v is not None})
        self._measures: dict[str, np.ndarray] | None = None
        log.info("classified %d photos with k=%d neighbours in %.1f s", len(images), self.assessment.classifier.k,
                 time.monotonic() - started)

    @classmethod
    def load(cls, settings: Settings, store: Store | None = None) -> Catalog:
        settings = settings.validated()
        return cls(open_run_output(settings.output, store), settings)

    # --- lookup ---------------------------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self.assessment.classifier.classes

    @property
    def splits(self) -> list[str]:
        present = {s for s in self.run.images.splits if s is not None}
        return [s for s in (TRAINING, TEST) if s in present]

    @property
    def k(self) -> int:
        return self.assessment.classifier.k

    def row(self, image_id: str) -> int:
        row = self.run.images.row_of.get(image_id)
        if row is None:
            raise ImageNotFound(image_id)
        return row

    def summary(self, row: int) -> dict:
        images = self.run.images
        result = self.assessment.classification
        predicted = str(self.assessment.predicted[row])
        score = float(self.assessment.score[row])
        votes = int(result.votes[row, self.classes.index(predicted)])
        return {
            "id": str(images.ids[row]),
            "label": images.labels[row],
            "split": images.splits[row],
            "predicted": predicted,
            "score": score,
            "votes": votes,
            "neighbours_considered": result.k,
            "correct": self.correct[row],
            "is_reference": bool(self.is_reference[row]),
            "sentence": explain(predicted, score, votes, result.k, float(result.familiarity[row])),
        }

    def measures(self) -> dict[str, np.ndarray]:
        """Every photo's brightness and dominant hue (NaN when unknown), for the comparison histograms."""
        if self._measures is None:
            described = self.photos.all_descriptions()
            self._measures = {
                "brightness": np.asarray([d.brightness if d else np.nan for d in described], dtype=float),
                "hue": np.asarray([d.hue if d and d.hue is not None else np.nan for d in described], dtype=float),
            }
        return self._measures

    def neighbours(self, row: int, count: int | None = None) -> list[tuple[int, float]]:
        """The photo's nearest reference photos (itself excluded), nearest first, as (row, distance)."""
        found = self.assessment.classification.neighbours
        count = count or self.settings.gallery_size
        refs = self.assessment.reference_rows
        return [(int(refs[i]), float(d)) for i, d in zip(found.indices[row][:count], found.distances[row][:count])]

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
            keep &= self.correct == False  # noqa: E712 - elementwise on an object array (None = unlabelled)
        rows = np.nonzero(keep)[0]
        if query.sort == "score_asc":
            rows = rows[np.argsort(self.assessment.score[rows], kind="stable")]
        elif query.sort == "score_desc":
            rows = rows[np.argsort(-self.assessment.score[rows], kind="stable")]
        return rows

    def mistakes(self) -> list[int]:
        return [int(r) for r in np.nonzero(self.correct == False)[0]]  # noqa: E712

    def run_summary(self) -> dict:
        manifest = self.run.manifest
        return {
            "output": self.run.location,
            "n_images": len(self.run.images),
            "n_errors": manifest.n_errors,
            "classes": list(self.classes),
            "splits": self.splits,
            "n_reference": int(len(self.assessment.reference_rows)),
            "k_pca": manifest.k,
            "cumulative_variance": manifest.cumulative_variance,
            "image_size": manifest.image_size,
            "engine": manifest.engine,
            "weights": manifest.weights.source,
            "weights_warning": manifest.weights.warning,
            "neighbours": self.k,
            "finished_at": manifest.finished_at,
        }
