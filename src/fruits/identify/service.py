"""Identify a new photo: the run's own preprocessing, model and weights, its PCA projection, then the kNN.

Everything that turns a photo into coordinates comes from the run's manifest (weights spec and sha256, image
size, engine), so a photo sent to `fruits identify` or `POST /api/identify` lands in the same PCA space as the
reference photos. The predictor is built once per process and shared.

Privacy: a photo lives in memory for the duration of one call; nothing here writes it anywhere, and
`strip_metadata` cuts its metadata out before Pillow sees it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import storage
from ..classify import (
    DEFAULT_NEIGHBOURS,
    Classification,
    KnnClassifier,
    LinearModel,
    certainty_words,
    explain,
    reference_mask,
)
from ..engines import (
    KerasPredictor,
    LiteRTPredictor,
    Predictor,
    cached_litert_flatbuffer,
    prepare_payload,
)
from ..errors import ImageDecodeError, RunOutputError, WeightsError
from ..images import ImageLimits
from ..model import WeightsSpec, load_weights, validate_feature_layer, validate_image_size
from ..outputs import Manifest
from ..run_output import RunOutput
from ..views import IDENTIFY_VIEWS, photo_views
from .facts import FruitFacts
from .metadata import JPEG_MAGIC, PNG_MAGIC, strip_metadata

log = logging.getLogger(__name__)

# Views of a photo looked at by identify: the whole square, the centre crop and one corner (fruits.views).
DEFAULT_VIEWS = IDENTIFY_VIEWS
# The whole photo's share of a photo's score when it is looked at in several views; the crops share the rest
# evenly. None: every view the same (the plain mean). 0.5 wins in cross-validation (docs/identify.md, "More
# levers") but gains nothing on the Test photos and gives a plain wall a confident card, so it is not set.
WHOLE_VIEW_WEIGHT: float | None = None
# Images per call of the LiteRT model: None, every view of a photo in one call. Measured at 160 px with three
# views (benchmarks/identify_cpu.py, busy 2-core machine): 15.8-17.5 ms of model CPU per photo in one call of
# three, 20.5 ms in calls of 2 + 1 (the interpreter re-plans its tensors whenever the call size changes) and
# 20.8 ms in three calls of one.
VIEWS_PER_CALL: int | None = None
# "Not sure" below either: the photo is farther from the references than most references are from their
# neighbours, or no kind gathers this share of the score. Chosen on generated non-fruit photos and the grocery
# Training photos (never the Test photos the accuracy is measured on): see benchmarks/identify_levers.py.
MIN_FAMILIARITY = 0.02
MIN_KIND_SCORE = 0.35


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


class _RunModel:
    """The run's model for identify: a small pool of predictors, one per core.

    LiteRT interpreters (and Keras models) are not safe to call from two threads at once, and the web app serves
    requests from a thread pool: each call borrows one predictor of the pool and gives it back. With LiteRT, one
    single-threaded interpreter per core lets two requests run at once on two cores, instead of queueing every
    request behind one lock (XNNPACK's results do not depend on its thread count: each output is computed by the
    same kernel whichever thread runs it). The Keras engine, the reference path, keeps one model."""

    def __init__(self, predictors: list[Predictor], batch_size: int | None = None):
        self.size = len(predictors)
        self.batch_size = batch_size  # images per inference call (None: the whole batch at once)
        self._free: queue.SimpleQueue[Predictor] = queue.SimpleQueue()
        for predictor in predictors:
            self._free.put(predictor)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        predictor = self._free.get()
        try:
            if not self.batch_size or len(batch) <= self.batch_size:
                return predictor.predict(batch)
            step = self.batch_size
            return np.concatenate([predictor.predict(batch[i:i + step]) for i in range(0, len(batch), step)])
        finally:
            self._free.put(predictor)


_MODELS: dict[tuple[str, int, str, str], _RunModel] = {}
_BUILD_LOCK = threading.Lock()


def _model_key(run: RunOutput) -> tuple[str, int, str, str]:
    manifest = run.manifest
    return manifest.engine, manifest.image_size, manifest.feature_layer, manifest.weights.sha256


def default_threads() -> int:
    """Predictors in the pool (LiteRT) or threads of the one model (Keras): the cores of this machine."""
    return max(1, min(4, os.cpu_count() or 1))


def _litert_payload(run: RunOutput, image_size: int) -> bytes | None:
    """The run's LiteRT model from the local cache (written by `fruits run` or an earlier identify on this
    machine), found by the weights' sha256 the manifest records: no TensorFlow import, no weights file read."""
    try:
        return cached_litert_flatbuffer(run.manifest.weights.sha256, image_size, layer=run.manifest.feature_layer)
    except OSError as exc:
        log.warning("cannot read the cached LiteRT model: %s", exc)
        return None


def run_model(run: RunOutput, threads: int | None = None) -> _RunModel:
    manifest = run.manifest
    engine = manifest.engine
    image_size = validate_image_size(manifest.image_size)
    expected = manifest.weights.sha256
    layer = validate_feature_layer(manifest.feature_layer)
    key = (engine, image_size, layer, expected)
    with _BUILD_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        count = threads or default_threads()
        payload = _litert_payload(run, image_size) if engine == "litert" else None
        if payload is None:
            spec = weights_spec_for(manifest)
            log.info("loading the run's weights (%s) for identify", spec.describe())
            loaded = load_weights(spec, image_size, read_bytes=run.store.read_bytes)
            if loaded.sha256 != expected:
                raise WeightsError(
                    f"the weights {spec.describe()} are not the ones this run used (sha256 {loaded.sha256[:12]}… "
                    f"instead of {expected[:12]}…): the file changed since `fruits run`; restore it or re-run the "
                    "pipeline"
                )
            payload = prepare_payload(engine, loaded, image_size, layer=layer)
        if engine == "litert":
            # One single-threaded interpreter per core: requests run side by side, each on one core. An
            # interpreter of two threads costs more CPU for the same photo (29.4 against 25.2 ms a request at
            # 160 px, three views, benchmarks/identify_cpu.py --threads 1 2: XNNPACK's threads wait for each
            # other), and with 16 clients both cores are busy anyway.
            model = _RunModel([LiteRTPredictor(payload, 1) for _ in range(count)], VIEWS_PER_CALL)
        else:
            # Batch size 1: a photo's views are never padded (the keras engine pads batches shorter than it).
            model = _RunModel([KerasPredictor(image_size, payload, count, 1, layer)])
        _MODELS[key] = model
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


def load_linear_model(run: RunOutput) -> LinearModel | None:
    """The run's linear classifier, or None when its manifest records none (an older run, or too few labels)."""
    about = run.manifest.classifier
    if about is None:
        return None
    location = storage.join(run.location.rstrip("/") if storage.scheme(run.location) else run.location,
                            about.file)
    if run.store.kind(location) != "file":
        raise RunOutputError(f"{location} is missing though manifest.json names it; re-run `fruits run`")
    try:
        model = LinearModel.from_dict(json.loads(run.store.read_bytes(location, max_bytes=256 * 1024 * 1024)))
    except (ValueError, KeyError, TypeError) as exc:
        raise RunOutputError(f"{location} is not a fruits classifier ({exc}); re-run `fruits run`") from None
    if model.mean.shape != (run.projection.k,):
        raise RunOutputError(f"{location} expects {model.mean.shape[0]} PCA coordinates, the run has "
                             f"{run.projection.k}: the OUTPUT mixes two runs, re-run `fruits run`")
    return model


@dataclass(frozen=True)
class Identification:
    confident: bool
    kind: str | None
    kind_name: str
    variety: str
    verdict: str
    kinds: list[dict]  # [{kind, name, score, variety}], best first
    method: str  # "logistic" or "knn"
    top: list[dict]  # [{label, kind, name, score, votes}], best first
    k: int
    sentence: str
    familiarity: float
    similar: list[dict]  # [{id, label, split, distance}], nearest first
    card: dict | None
    coordinates: list[float]  # the photo's first PCA coordinates
    model: dict

    def to_dict(self) -> dict[str, Any]:
        # The answer leads with the verdict ("Not sure: ..." or "Very likely an apple (Apple Royal Gala)."), the
        # kind, then the variety.
        return {
            "verdict": self.verdict,
            "confident": self.confident,
            "kind": self.kind,
            "kind_name": self.kind_name,
            "variety": self.variety,
            "familiarity": self.familiarity,
            "kinds": self.kinds,
            "top": self.top,
            "sentence": self.sentence,
            "method": self.method,
            "neighbours_considered": self.k,
            "similar": self.similar,
            "card": self.card,
            "pca_coordinates": self.coordinates,
            "model": self.model,
        }


class _LabelFacts(NamedTuple):
    kind: str | None  # the fruit kind of the label, None when unknown
    name: str  # the label's common name (its kind's), or the label
    group: str  # what its votes add up under: its kind, or the label itself
    group_name: str


class Identifier:
    """Answers "what fruit is this?" for one run: built once, then `identify(bytes)` per photo."""

    def __init__(self, run: RunOutput, classifier: KnnClassifier, reference_rows: np.ndarray,
                 facts: FruitFacts | None = None, limits: ImageLimits | None = None, threads: int | None = None,
                 views: int = DEFAULT_VIEWS, linear: LinearModel | None | bool = True,
                 whole_view_weight: float | None = WHOLE_VIEW_WEIGHT):
        self.run = run
        self.classifier = classifier
        self.reference_rows = reference_rows
        self.facts = facts or FruitFacts.load()
        self.limits = limits or ImageLimits(max_bytes=run.manifest.limits.max_bytes,
                                            max_pixels=run.manifest.limits.max_pixels)
        self.threads = threads
        self.views = max(1, int(views))
        self.whole_view_weight = whole_view_weight
        view_weights(self.views, whole_view_weight)  # a bad weight is refused now, not on the first photo
        # linear=True: the run's own classifier/ when it has one; False: kNN only; or a LinearModel to use.
        self.linear = load_linear_model(run) if linear is True else (linear or None)
        self._label_facts: dict[str, _LabelFacts] = {}

    @classmethod
    def for_run(cls, run: RunOutput, neighbours: int = DEFAULT_NEIGHBOURS, **options) -> Identifier:
        images = run.images
        rows = np.nonzero(reference_mask(images.labels, images.splits))[0]
        return cls(run, KnnClassifier(images.coords[rows], list(images.labels[rows]), neighbours), rows, **options)

    def warm(self) -> None:
        """Build the predictor now (seconds: TensorFlow import, weights, LiteRT conversion) instead of on the
        first photo."""
        run_model(self.run, self.threads)

    @property
    def ready(self) -> bool:
        return _model_key(self.run) in _MODELS

    def pixels(self, data: bytes) -> np.ndarray:
        """(V, size, size, 3) uint8: the photo checked, its metadata cut out, decoded once and cut into views."""
        check_photo(data, self.limits)
        data = strip_metadata(data)
        try:
            return photo_views(data, self.run.manifest.image_size, self.views, self.limits)
        except ImageDecodeError as exc:
            raise UnreadablePhotoError(f"cannot read this photo: {exc}") from None

    def project(self, pixels: np.ndarray) -> np.ndarray:
        """(V, k): the PCA coordinates of the views, all of them in one call of the model."""
        return self.run.projection.project(run_model(self.run, self.threads).predict(pixels))

    def view_coordinates(self, data: bytes) -> np.ndarray:
        """(V, k): the PCA coordinates of the photo's views; row 0 is computed exactly as the run computed the
        reference photos'."""
        return self.project(self.pixels(data))

    def coordinates(self, data: bytes) -> np.ndarray:
        """The photo's PCA coordinates (its whole, centred view), as the run computed the reference photos'."""
        return self.view_coordinates(data)[0]

    def label_scores(self, views: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, str]:
        """(classes, (C,) scores, method): the views' scores, weighted by view_weights."""
        weights = view_weights(len(views), self.whole_view_weight)
        if self.linear is not None:
            return self.linear.classes, weights @ self.linear.probabilities(views), "logistic"
        return self.classifier.classes, weights @ self.classifier.classify(views).scores, "knn"

    def identify(self, data: bytes, top: int = 3, similar: int = 8) -> Identification:
        return self.answer(self.view_coordinates(data), top, similar)

    def answer(self, views: np.ndarray, top: int = 3, similar: int = 8) -> Identification:
        """The answer for a photo's (V, k) view coordinates: the scores of its views, the kNN of its first."""
        result = self.classifier.classify(views[:1])
        classes, scores, method = self.label_scores(views)
        return self._answer(result, views[0], classes, scores, method, top, similar)

    def _answer(self, result: Classification, coords: np.ndarray, classes: tuple[str, ...], scores: np.ndarray,
                method: str, top: int, similar: int) -> Identification:
        knn_votes = dict(zip(result.classes, result.votes[0].tolist()))
        order = np.argsort(-scores, kind="stable").tolist()
        values = scores.tolist()  # the same floats as float(scores[c]), converted in one call
        ranking = [(classes[c], values[c], knn_votes.get(classes[c], 0)) for c in order[:top]]
        best_label, best_score, best_votes = ranking[0]
        # Votes per kind: a kind's score is the sum of its labels' (added best first); its variety is its best label.
        kinds: dict[str, dict] = {}
        for c in order:
            label = classes[c]
            facts = self._facts_of(label)
            entry = kinds.get(facts.group)
            if entry is None:
                entry = kinds[facts.group] = {"kind": facts.group, "name": facts.group_name, "score": 0.0,
                                              "variety": label}
            entry["score"] += values[c]
        ranked_kinds = sorted(kinds.values(), key=lambda e: -e["score"])[:3]
        familiarity = float(result.familiarity[0])
        best_kind = ranked_kinds[0]
        confident = familiarity >= MIN_FAMILIARITY and best_kind["score"] >= MIN_KIND_SCORE
        images = self.run.images
        similar_rows = [int(self.reference_rows[i]) for i in result.neighbours.indices[0][:similar]]
        return Identification(
            confident=confident,
            kind=best_kind["kind"],
            kind_name=best_kind["name"],
            variety=best_kind["variety"],
            verdict=verdict(best_kind, ranked_kinds, confident, familiarity),
            kinds=ranked_kinds,
            method=method,
            top=[{"label": label, "kind": self._facts_of(label).kind, "name": self._facts_of(label).name,
                  "score": score, "votes": votes} for label, score, votes in ranking],
            k=result.k,
            sentence=explain(best_label, best_score, best_votes, result.k, familiarity),
            familiarity=familiarity,
            similar=[{"id": str(images.ids[row]), "label": images.labels[row], "split": images.splits[row],
                      "distance": float(d)} for row, d in zip(similar_rows, result.neighbours.distances[0])],
            card=self.facts.card(best_kind["variety"]) if confident else None,
            coordinates=[float(c) for c in coords[:3]],
            model={"engine": self.run.manifest.engine, "image_size": self.run.manifest.image_size,
                   "weights_sha256": self.run.manifest.weights.sha256, "views": self.views,
                   "whole_view_weight": self.whole_view_weight,
                   "classifier": method},
        )

    def _facts_of(self, label: str) -> _LabelFacts:
        """What the answer says about a label, worked out once per label (string matching in FruitFacts): every
        answer walks all the labels (votes per kind), and it cost 0.4 ms a call at 125 labels."""
        known = self._label_facts.get(label)
        if known is None:
            kind = self.facts.kind_for(label)
            group = kind or label
            known = self._label_facts[label] = _LabelFacts(kind, self._name(label), group, self._kind_name(group))
        return known

    def _name(self, label: str) -> str:
        card = self.facts.card(label)
        return card["common_name"] if card else label

    def _kind_name(self, kind: str) -> str:
        card = self.facts.kinds.get(kind)
        return card["common_name"] if card else kind


def view_weights(n: int, whole: float | None = WHOLE_VIEW_WEIGHT) -> np.ndarray:
    """(n,) the weight of each view in a photo's score, summing to 1: view 0 (the whole photo) weighs `whole`,
    the crops share the rest evenly; the same for every view when `whole` is None or there is one view."""
    if n == 1 or whole is None:
        return np.full(n, 1.0 / n)
    if not 0.0 <= whole <= 1.0:
        raise ValueError(f"the whole view's weight must be between 0 and 1, not {whole!r}")
    weights = np.full(n, (1.0 - whole) / (n - 1))
    weights[0] = whole
    return weights


def verdict(best: dict, ranked: list[dict], confident: bool, familiarity: float) -> str:
    """One sentence that leads with the kind, then the variety; or with "Not sure" and the candidates."""
    if not confident:
        names = ", ".join(f"{e['name'].lower()} ({100 * e['score']:.0f}%)" for e in ranked)
        why = ("this photo is unlike the reference photos" if familiarity < MIN_FAMILIARITY
               else "no kind of fruit stands out")
        return f"Not sure: {why}. Closest candidates: {names}."
    words = certainty_words(best["score"])
    name = best["name"].lower()
    article = "an" if name[:1] in "aeiou" else "a"
    return f"{words} {article} {name} ({best['variety']})."
