"""Identify a new photo: the run's own preprocessing, model and weights, its PCA projection, then the kNN.

Everything that turns a photo into coordinates comes from the run's manifest (weights spec and sha256, image
size, engine), so a photo sent to `fruits identify` or `POST /api/identify` lands in the same PCA space as the
reference photos. The predictor is built once per process and shared.

Privacy: a photo lives in memory for the duration of one call; nothing here writes it anywhere, and
`strip_metadata` cuts its metadata out before Pillow sees it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..classify import DEFAULT_NEIGHBOURS, Classification, KnnClassifier, explain, reference_mask
from ..engines import EngineSpec, Predictor, load_predictor, prepare_payload
from ..errors import ImageDecodeError, WeightsError
from ..extract import extract_features
from ..images import ImageLimits
from ..model import WeightsSpec, load_weights, validate_image_size
from ..outputs import Manifest
from ..run_output import RunOutput
from .facts import FruitFacts
from .metadata import JPEG_MAGIC, PNG_MAGIC, strip_metadata

log = logging.getLogger(__name__)


class UnsupportedPhotoError(ImageDecodeError):
    """The bytes are not a JPEG or PNG (web: 415)."""


class UnreadablePhotoError(ImageDecodeError):
    """A JPEG/PNG that cannot be decoded: empty, truncated, corrupt or a decompression bomb (web: 422)."""


# --- the run's predictor, built once per process --------------------------------------------------------------


def weights_spec_for(manifest: Manifest) -> WeightsSpec:
    """The weights the run used. `auto` is resolved to what it became (imagenet, or random:0 offline)."""
    weights = manifest.weights
    spec = str(weights.spec or weights.source or "")
    if spec == "auto":
        source = str(weights.source or "")
        spec = source[len("auto->"):] if source.startswith("auto->") else (source or "imagenet")
    return WeightsSpec.parse(spec)


@dataclass
class _RunModel:
    predictor: Predictor
    # LiteRT interpreters and Keras models are not safe to call from two threads at once; the web app serves
    # requests from a thread pool, so calls are serialised per model.
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[tuple[str, int, str], _RunModel] = {}
_BUILD_LOCK = threading.Lock()


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def run_model(run: RunOutput, threads: int | None = None) -> _RunModel:
    manifest = run.manifest
    engine = manifest.engine
    image_size = validate_image_size(manifest.image_size)
    expected = manifest.weights.sha256
    key = (engine, image_size, expected)
    with _BUILD_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        spec = weights_spec_for(manifest)
        log.info("loading the run's weights (%s) for identify", spec.describe())
        loaded = load_weights(spec, image_size, read_bytes=run.store.read_bytes)
        if loaded.sha256 != expected:
            raise WeightsError(
                f"the weights {spec.describe()} are not the ones this run used (sha256 {loaded.sha256[:12]}… instead "
                f"of {expected[:12]}…): the file changed since `fruits run`; restore it or re-run the pipeline"
            )
        payload = prepare_payload(engine, loaded, image_size)
        # One photo per call: a batch of 1 (the keras engine would otherwise pad it to its default batch).
        predictor = load_predictor(EngineSpec(engine, image_size, loaded.sha256, threads or default_threads(),
                                              batch_size=1), lambda: payload)
        model = _MODELS[key] = _RunModel(predictor)
        return model


# --- identification -------------------------------------------------------------------------------------------


def check_photo(data: bytes, limits: ImageLimits) -> None:
    """Sniff the bytes (never the file name or the declared content type)."""
    if not data:
        raise UnreadablePhotoError("the photo is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise UnreadablePhotoError(f"the photo is {len(data)} bytes, over the {limits.max_bytes}-byte limit")
    if not data.startswith((JPEG_MAGIC, PNG_MAGIC)):
        raise UnsupportedPhotoError(
            "this file is not a JPEG or PNG photo (its content was checked, not its name); "
            "send a .jpg or .png, or set the phone camera to 'most compatible' instead of HEIC"
        )


@dataclass(frozen=True)
class Identification:
    top: list[dict]  # [{label, kind, name, score, votes}], best first
    k: int
    sentence: str
    familiarity: float
    similar: list[dict]  # [{id, label, split, distance}], nearest first
    card: dict | None
    coordinates: list[float]  # the photo's first PCA coordinates
    model: dict

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": self.top,
            "sentence": self.sentence,
            "neighbours_considered": self.k,
            "familiarity": self.familiarity,
            "similar": self.similar,
            "card": self.card,
            "pca_coordinates": self.coordinates,
            "model": self.model,
        }


class Identifier:
    """Answers "what fruit is this?" for one run: built once, then `identify(bytes)` per photo."""

    def __init__(self, run: RunOutput, classifier: KnnClassifier, reference_rows: np.ndarray,
                 facts: FruitFacts | None = None, limits: ImageLimits | None = None, threads: int | None = None):
        self.run = run
        self.classifier = classifier
        self.reference_rows = reference_rows
        self.facts = facts or FruitFacts.load()
        self.limits = limits or ImageLimits(max_bytes=run.manifest.limits.max_bytes,
                                            max_pixels=run.manifest.limits.max_pixels)
        self.threads = threads

    @classmethod
    def for_run(cls, run: RunOutput, neighbours: int = DEFAULT_NEIGHBOURS, **options) -> Identifier:
        images = run.images
        rows = np.nonzero(reference_mask(images.labels, images.splits))[0]
        return cls(run, KnnClassifier(images.coords[rows], list(images.labels[rows]), neighbours), rows, **options)

    def warm(self) -> None:
        """Build the predictor now (seconds: TensorFlow import, weights, LiteRT conversion) instead of on the
        first photo."""
        run_model(self.run, self.threads)

    def coordinates(self, data: bytes) -> np.ndarray:
        """The photo's PCA coordinates, computed exactly as the run computed the reference photos'."""
        check_photo(data, self.limits)
        data = strip_metadata(data)
        model = run_model(self.run, self.threads)
        with model.lock:
            extraction = extract_features([data], model.predictor, self.run.manifest.image_size, self.limits)
        if extraction.features[0] is None:
            raise UnreadablePhotoError(f"cannot read this photo: {extraction.errors[0]}")
        return self.run.projection.project(extraction.features[0])

    def identify(self, data: bytes, top: int = 3, similar: int = 8) -> Identification:
        coords = self.coordinates(data)
        result = self.classifier.classify(coords[None, :])
        return self._answer(result, coords, top, similar)

    def _answer(self, result: Classification, coords: np.ndarray, top: int, similar: int) -> Identification:
        ranking = result.ranking(0, top)
        best_label, best_score, best_votes = ranking[0]
        images = self.run.images
        similar_rows = [int(self.reference_rows[i]) for i in result.neighbours.indices[0][:similar]]
        return Identification(
            top=[{"label": label, "kind": self.facts.kind_for(label), "name": self._name(label), "score": score,
                  "votes": votes} for label, score, votes in ranking],
            k=result.k,
            sentence=explain(best_label, best_score, best_votes, result.k, float(result.familiarity[0])),
            familiarity=float(result.familiarity[0]),
            similar=[{"id": str(images.ids[row]), "label": images.labels[row], "split": images.splits[row],
                      "distance": float(d)} for row, d in zip(similar_rows, result.neighbours.distances[0])],
            card=self.facts.card(best_label),
            coordinates=[float(c) for c in coords[:3]],
            model={"engine": self.run.manifest.engine, "image_size": self.run.manifest.image_size,
                   "weights_sha256": self.run.manifest.weights.sha256},
        )

    def _name(self, label: str) -> str:
        card = self.facts.card(label)
        return card["common_name"] if card else label
