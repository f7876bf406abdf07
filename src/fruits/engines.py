"""Inference engines: how a batch of uint8 images becomes a batch of 1,280-float features.

The contract follows Apache Beam's ModelHandler: the driver prepares a payload once (`prepare_payload`), each
Python worker turns it into a predictor once (`load_predictor`, cached by the job's key) and then only calls
`predict(batch)`. Framework code stays in this module; the Spark job never imports TensorFlow itself.

Engines:
- `keras`: the Keras model with the broadcast weights set. The reference path.
- `litert`: the same Keras model, converted on the driver to a LiteRT (TFLite) flatbuffer that embeds the
  broadcast weights, run with the XNNPACK CPU delegate. About twice as fast on CPU, within 1e-4 of `keras`,
  and its executors need only the small `ai-edge-litert` wheel, not TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .errors import UsageError
from .model import DEFAULT_FEATURE_LAYER, LoadedWeights, build_feature_model, cache_dir, \
    configure_tensorflow_threads, tensorflow_version, validate_feature_layer

log = logging.getLogger(__name__)

ENGINES = ("litert", "keras")
DEFAULT_ENGINE = "litert"
# Images per inference call, measured on 2 cores at 224 px (docs/performance.md): XNNPACK runs fastest on tiny
# batches whose activations stay in cache (300 images/s per core at 2 against 210 at 16), TensorFlow around 8.
DEFAULT_BATCH_SIZE = {"litert": 2, "keras": 8}


class Predictor(Protocol):
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) -> float32 (N, feature width: 1,280 at the top layer)."""


@dataclass(frozen=True)
class EngineSpec:
    """Everything a worker needs besides the (broadcast) payload. Small and picklable."""

    engine: str
    image_size: int
    weights_sha256: str
    threads: int = 1
    batch_size: int | None = None  # None: the engine's default (DEFAULT_BATCH_SIZE)
    layer: str = DEFAULT_FEATURE_LAYER

    @property
    def key(self) -> str:
        # One key per job configuration: a reused Python worker keeps its model across tasks of the same job
        # and rebuilds it when a different job (other weights, size, layer or engine) comes along.
        return f"{self.engine}:{self.image_size}:{self.layer}:{self.weights_sha256}"

    @property
    def inference_batch_size(self) -> int:
        """Images per inference call."""
        return self.batch_size or DEFAULT_BATCH_SIZE[self.engine]


def validate_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise UsageError(f"bad --engine {engine!r}: choose one of {', '.join(ENGINES)}")
    return engine


# --- driver side --------------------------------------------------------------------------------------------


def prepare_payload(engine: str, weights: LoadedWeights, image_size: int, cache_dir: str | None = None,
                    layer: str = DEFAULT_FEATURE_LAYER):
    """What the driver broadcasts: the weight arrays (keras) or the converted flatbuffer (litert)."""
    validate_engine(engine)
    if engine == "keras":
        return weights.arrays
    return litert_flatbuffer(weights, image_size, cache_dir, layer)


def default_cache_dir() -> str:
    return cache_dir("litert")


def litert_cache_path(weights_sha256: str, image_size: int, cache_dir: str | None = None,
                      layer: str = DEFAULT_FEATURE_LAYER) -> str:
    """Where the LiteRT conversion of these weights (sha256 of the arrays) at this input size and layer is cached
    (the top layer's name is the one it had before layers could be chosen: caches stay valid)."""
    at = "" if layer == DEFAULT_FEATURE_LAYER else f"_{validate_feature_layer(layer)}"
    name = f"mobilenet_v2_{image_size}{at}_{weights_sha256[:16]}_tf{tensorflow_version()}.tflite"
    return os.path.join(cache_dir or default_cache_dir(), name)


def cached_litert_flatbuffer(weights_sha256: str, image_size: int, cache_dir: str | None = None,
                             layer: str = DEFAULT_FEATURE_LAYER) -> bytes | None:
    """The cached conversion, or None. It was converted from the weights whose sha256 names it, so a caller
    that knows the sha256 it wants (identify: the run's manifest) needs neither TensorFlow nor the weights."""
    cached = litert_cache_path(weights_sha256, image_size, cache_dir, layer)
    if not os.path.isfile(cached):
        return None
    with open(cached, "rb") as handle:
        data = handle.read()
    log.info("LiteRT model from cache %s", cached)
    return data


def litert_flatbuffer(weights: LoadedWeights, image_size: int, cache_dir: str | None = None,
                      layer: str = DEFAULT_FEATURE_LAYER) -> bytes:
    """Convert the Keras model (with these weights) to a LiteRT flatbuffer, cached by the weights' sha256.

    A cached model is read without importing TensorFlow (its version comes from the installed package's
    metadata) and without the weights' arrays: a driver that finds it starts seconds sooner."""
    cache_dir = cache_dir or default_cache_dir()
    data = cached_litert_flatbuffer(weights.sha256, image_size, cache_dir, layer)
    if data is not None:
        return data
    cached = litert_cache_path(weights.sha256, image_size, cache_dir, layer)
    import tensorflow as tf

    model = build_feature_model(image_size, weights.arrays, layer)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # The converter prints its intermediate SavedModel signature on stdout; the user cannot act on it.
    with contextlib.redirect_stdout(io.StringIO()):
        data = converter.convert()
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, cached)
    except OSError as exc:  # a read-only home is not a reason to fail the run
        log.warning("could not cache the LiteRT model in %s: %s", cache_dir, exc)
    log.info("converted to LiteRT (%d bytes, sha256 %s)", len(data), hashlib.sha256(data).hexdigest()[:12])
    return data


# --- worker side --------------------------------------------------------------------------------------------


class KerasPredictor:
    def __init__(self, image_size: int, weights: list[np.ndarray], threads: int | None, batch_size: int,
                 layer: str = DEFAULT_FEATURE_LAYER):
        configure_tensorflow_threads(threads)
        self.model = build_feature_model(image_size, weights, layer)
        self.batch_size = batch_size

    def predict(self, batch: np.ndarray) -> np.ndarray:
        rows = len(batch)
        if rows < self.batch_size:
            # Every new input shape costs TensorFlow a retrace (~0.5 s): short batches are padded to one shape.
            padding = np.zeros((self.batch_size - rows,) + batch.shape[1:], dtype=batch.dtype)
            batch = np.concatenate([batch, padding])
        out = self.model.predict_on_batch(batch)
        return np.asarray(out, dtype=np.float32)[:rows].reshape(rows, -1)


class LiteRTPredictor:
    def __init__(self, flatbuffer: bytes, threads: int | None):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_content=flatbuffer, num_threads=threads or 1)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch_size = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) != self._batch_size:
            # Resizing re-plans the graph: cheap, and only when the batch size changes (the last batch).
            self._interpreter.resize_tensor_input(self._input, list(batch.shape))
            self._interpreter.allocate_tensors()
            self._batch_size = len(batch)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.uint8))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).reshape(len(batch), -1).astype(np.float32, copy=True)


_PREDICTORS: dict[str, Predictor] = {}
_LOCK = threading.Lock()
_BUILDS = 0  # predictors built by this process: the once-per-worker promise is measured with it


def load_predictor(spec: EngineSpec, payload: Callable[[], Any]) -> Predictor:
    """Build the predictor the first time this worker sees `spec.key`; reuse it afterwards.

    `payload` is called only on a cache miss, so a reused worker does not even unpickle the broadcast again.
    """
    with _LOCK:
        predictor = _PREDICTORS.get(spec.key)
        if predictor is None:
            payload = payload()
            if spec.engine == "keras":
                predictor = KerasPredictor(spec.image_size, payload, spec.threads, spec.inference_batch_size,
                                           spec.layer)
            elif spec.engine == "litert":
                predictor = LiteRTPredictor(payload, spec.threads)
            else:
                raise UsageError(f"unknown engine {spec.engine!r}")
            # Only one job's model is kept: a long-lived worker must not accumulate models.
            _PREDICTORS.clear()
            _PREDICTORS[spec.key] = predictor
            global _BUILDS
            _BUILDS += 1
        return predictor


def build_count() -> int:
    """How many predictors this process has built so far."""
    return _BUILDS


