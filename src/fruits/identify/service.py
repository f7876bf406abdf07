"""Identify a new photo: the run's own preprocessing, model and weights, its PCA projection, then the kNN.

Everything that turns a photo into coordinates comes from the run's manifest (weights spec and sha256, image
size, engine), so a photo sent to `fruits identify` or `POST /api/identify` lands in the same PCA space as the
reference photos. The predictor is built once per process and shared.

Privacy: a photo lives in memory for the duration of one call; nothing here writes it anywhere. Before Pillow
sees it, `strip_metadata` cuts its metadata out (EXIF with the phone's GPS position, XMP, IPTC, comments),
keeping only the orientation flag that turns it upright, so no metadata can reach a log or an answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .classify import DEFAULT_NEIGHBOURS, Classification, KnnClassifier, explain, reference_mask
from .engines import EngineSpec, Predictor, load_predictor, prepare_payload
from .errors import ImageDecodeError, WeightsError
from .extract import extract_features
from .images import ImageLimits
from .model import WeightsSpec, load_weights, validate_image_size
from .run_output import RunOutput

log = logging.getLogger(__name__)

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class UnsupportedPhotoError(ImageDecodeError):
    """The bytes are not a JPEG or PNG (web: 415)."""


class UnreadablePhotoError(ImageDecodeError):
    """A JPEG/PNG that cannot be decoded: empty, truncated, corrupt or a decompression bomb (web: 422)."""


# --- information cards ----------------------------------------------------------------------------------------


class FruitFacts:
    """The package's fruit_facts.json: one card per fruit kind and a map from dataset class names to kinds."""

    def __init__(self, document: dict):
        self.kinds: dict[str, dict] = document["kinds"]
        self._classes = {name.lower(): kind for name, kind in document.get("classes", {}).items()}
        self._aliases = {name.lower(): kind for name, kind in document.get("aliases", {}).items()}

    @classmethod
    def load(cls) -> FruitFacts:
        return _packaged_facts()

    def kind_for(self, label: str | None) -> str | None:
        """'Apple Red 1' -> 'apple', 'lemon' -> 'lemon', 'Tomato 4' -> 'tomato', unknown -> None."""
        if not label:
            return None
        text = " ".join(label.replace("_", " ").split()).lower()
        if text in self._classes:
            return self._classes[text]
        words = [w for w in text.split() if not w.isdigit()]
        # The whole name without numbers, then its first word ("Apple Hit 1" -> "apple"), singular or plural.
        for candidate in (" ".join(words), words[0] if words else ""):
            for form in (candidate, _singular(candidate)):
                if form in self.kinds:
                    return form
                if form in self._aliases:
                    return self._aliases[form]
        return None

    def card(self, label: str | None) -> dict | None:
        kind = self.kind_for(label)
        if kind is None:
            return None
        return {"kind": kind, **self.kinds[kind]}


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "oes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


@lru_cache(maxsize=1)
def _packaged_facts() -> FruitFacts:
    text = resources.files("fruits").joinpath("data/fruit_facts.json").read_text(encoding="utf-8")
    return FruitFacts(json.loads(text))


# --- the run's predictor, built once per process --------------------------------------------------------------


def weights_spec_for(manifest: dict) -> WeightsSpec:
    """The weights the run used. `auto` is resolved to what it became (imagenet, or random:0 offline)."""
    weights = manifest["weights"]
    spec = str(weights.get("spec") or weights.get("source") or "")
    if spec == "auto":
        source = str(weights.get("source") or "")
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
    engine = str(manifest["engine"])
    image_size = validate_image_size(int(manifest["image_size"]))
    expected = str(manifest["weights"].get("sha256") or "")
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
        predictor = load_predictor(EngineSpec(engine, image_size, loaded.sha256, threads or default_threads()),
                                   lambda: payload)
        model = _MODELS[key] = _RunModel(predictor)
        return model


# --- metadata removal ---------------------------------------------------------------------------------------

_ORIENTATION_TAG = 0x0112
# JPEG segments that carry metadata, not pixels: APP1 (EXIF, XMP), APP13 (IPTC), COM. APP2 "MPF" (the index of a
# phone's multi-picture file) goes too: only the first picture is used. APP0, APP2 ICC and APP14 stay: they
# tell the decoder how to read the colours.
_JPEG_METADATA = (0xE1, 0xED, 0xFE)
_PNG_METADATA = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")


def _orientation(tiff: bytes) -> int | None:
    """The orientation tag of an EXIF (TIFF) block's first directory; nothing else is looked at."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    directory = int.from_bytes(tiff[4:8], order)
    if directory + 2 > len(tiff):
        return None
    for i in range(min(int.from_bytes(tiff[directory : directory + 2], order), 1024)):
        entry = directory + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        if int.from_bytes(tiff[entry : entry + 2], order) == _ORIENTATION_TAG:
            value = int.from_bytes(tiff[entry + 8 : entry + 10], order)
            return value if 1 <= value <= 8 else None
    return None


def _orientation_tiff(orientation: int) -> bytes:
    """A one-entry EXIF block: the orientation, nothing else."""
    entry = _ORIENTATION_TAG.to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
    entry += orientation.to_bytes(2, "little") + b"\x00\x00"
    return b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little") + entry + (0).to_bytes(4, "little")


def _strip_jpeg(data: bytes) -> bytes:
    out, pos, orientation = bytearray(data[:2]), 2, None
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos : pos + 2 + length]
        if length < 2 or len(segment) < 2 + length:
            break  # damaged: leave the rest to the decoder, which will say what is wrong
        payload = segment[4:]
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            orientation = _orientation(payload[6:]) or orientation
        elif marker not in _JPEG_METADATA and not (marker == 0xE2 and payload.startswith(b"MPF\x00")):
            out += segment
        pos += 2 + length
    if orientation and orientation != 1:
        exif = b"Exif\x00\x00" + _orientation_tiff(orientation)
        out[2:2] = b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
    return bytes(out + data[pos:])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    import zlib

    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")


def _strip_png(data: bytes) -> bytes:
    out, pos, orientation = bytearray(data[:8]), 8, None
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, end = data[pos + 4 : pos + 8], pos + 12 + length
        if end > len(data):
            break
        if kind == b"eXIf":
            orientation = _orientation(data[pos + 8 : pos + 8 + length])
        elif kind not in _PNG_METADATA:
            if kind == b"IDAT" and orientation and orientation != 1:
                out += _png_chunk(b"eXIf", _orientation_tiff(orientation))  # must precede the image data
                orientation = None
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            break
    return bytes(out + data[pos:])


def strip_metadata(data: bytes) -> bytes:
    """The photo with its metadata cut out and its pixels untouched (the orientation flag alone is kept)."""
    if data.startswith(_JPEG_MAGIC):
        return _strip_jpeg(data)
    if data.startswith(_PNG_MAGIC):
        return _strip_png(data)
    return data


# --- identification -------------------------------------------------------------------------------------------


def check_photo(data: bytes, limits: ImageLimits) -> None:
    """Sniff the bytes (never the file name or the declared content type)."""
    if not data:
        raise UnreadablePhotoError("the photo is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise UnreadablePhotoError(f"the photo is {len(data)} bytes, over the {limits.max_bytes}-byte limit")
    if not data.startswith((_JPEG_MAGIC, _PNG_MAGIC)):
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
        limit_values = run.manifest.get("limits") or {}
        self.limits = limits or ImageLimits(
            max_bytes=int(limit_values.get("max_bytes", ImageLimits().max_bytes)),
            max_pixels=int(limit_values.get("max_pixels", ImageLimits().max_pixels)),
        )
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
            extraction = extract_features([data], model.predictor, int(self.run.manifest["image_size"]), self.limits)
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
            model={"engine": self.run.manifest["engine"], "image_size": int(self.run.manifest["image_size"]),
                   "weights_sha256": self.run.manifest["weights"].get("sha256")},
        )

    def _name(self, label: str) -> str:
        card = self.facts.card(label)
        return card["common_name"] if card else label
