"""The feature extractor: MobileNetV2 without its classifier, global average pooling, 1,280 floats per image.

Pure building block (no Spark). TensorFlow/Keras is imported lazily: executors of the LiteRT engine never
import it, and `fruits --help` stays fast.

The model takes uint8 RGB images and scales them to [-1, 1] inside its graph (what
`keras.applications.mobilenet_v2.preprocess_input` does), so the Python side only hands over bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

from .errors import UsageError, WeightsError
from .storage import is_local, local_path

log = logging.getLogger(__name__)

FEATURE_DIM = 1280
# The layer whose global average is a photo's features: "top" is the last convolution (Keras's pooling="avg"
# output, 1,280 numbers); "bottleneck" the projection of the last inverted-residual block (320 numbers), the input
# of that convolution. With the shared backbone, whose top was fine-tuned on dog breeds, the bottleneck names the
# fruit in shop photos far more often (docs/identify.md, "The backbone's layer").
FEATURE_LAYERS = {"top": ("out_relu", FEATURE_DIM), "bottleneck": ("block_16_project_BN", 320)}
DEFAULT_FEATURE_LAYER = "top"
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 512
# Keras ships ImageNet weights of the headless MobileNetV2 for these input sizes only; others reuse 224's.
IMAGENET_SIZES = (96, 128, 160, 192, 224)

_RANDOM_SPEC = re.compile(r"^random(?::(\d+))?$")


@dataclass(frozen=True)
class WeightsSpec:
    """What `--weights` asked for, parsed: kind is imagenet, auto, random or file."""

    kind: str
    location: str | None = None
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> WeightsSpec:
        text = (text or "").strip()
        if text in ("imagenet", "auto"):
            return cls(kind=text)
        match = _RANDOM_SPEC.match(text)
        if match:
            return cls(kind="random", seed=int(match.group(1) or 0))
        if text.startswith("random"):
            raise UsageError(f"bad --weights {text!r}: use random or random:SEED with an integer seed")
        if not text:
            raise UsageError("empty --weights: use imagenet, random[:SEED] or a path/s3:// URI to a .weights.h5 file")
        return cls(kind="file", location=text)

    def describe(self) -> str:
        if self.kind == "random":
            return f"random:{self.seed}"
        if self.kind == "file":
            return str(self.location)
        return self.kind


@dataclass(frozen=True)
class LoadedWeights:
    """Weights as loaded on the driver: where they came from, their digest, and the arrays to broadcast.

    The arrays may be loaded lazily (`load`): a weights file already seen on this machine is known by its bytes'
    sha256 (see `_load_file`), and the LiteRT engine, whose converted model is cached by that same digest,
    then never needs the arrays, nor TensorFlow on the driver."""

    source: str
    sha256: str
    file_sha256: str | None = None
    warning: str | None = None
    nbytes: int = 0
    load: Callable[[], list[np.ndarray]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, arrays: list[np.ndarray], source: str, file_sha256: str | None = None,
           warning: str | None = None) -> LoadedWeights:
        loaded = cls(source, weights_sha256(arrays), file_sha256, warning, int(sum(a.nbytes for a in arrays)))
        loaded.__dict__["arrays"] = arrays  # what `arrays` would load: already here
        return loaded

    @functools.cached_property
    def arrays(self) -> list[np.ndarray]:
        arrays = self.load()
        if weights_sha256(arrays) != self.sha256:  # a stale digest cache must not pass other weights off
            raise WeightsError(f"the weights of {self.source} are not the ones remembered for its bytes; delete "
                               f"{cache_dir('weights')} and run again")
        return arrays


def cache_dir(kind: str) -> str:
    """Where fruits keeps what it can recompute (converted models, digests): $FRUITS_CACHE_DIR/kind, by default
    ~/.cache/fruits/kind."""
    base = os.environ.get("FRUITS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fruits")
    return os.path.join(base, kind)


def installed_version(*distributions: str) -> str | None:
    """The version of the first installed distribution among these names, without importing it (importing
    TensorFlow costs the driver seconds)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def tensorflow_version() -> str:
    version = installed_version("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos",
                                "tf-nightly", "tf-nightly-cpu")
    if version is None:  # installed some other way: ask the module itself
        import tensorflow as tf

        version = tf.__version__
    return version


def keras_version() -> str:
    version = installed_version("keras", "keras-nightly")
    if version is None:
        import keras

        version = keras.__version__
    return version


def validate_image_size(size: int) -> int:
    if not isinstance(size, int) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise UsageError(
            f"bad --image-size {size!r}: MobileNetV2 takes square inputs from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} "
            "pixels (224 is the standard, 160 is faster)"
        )
    return size


def weights_sha256(arrays: list[np.ndarray]) -> str:
    """A digest of the broadcast payload: every array's dtype, shape and bytes, in layer order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def configure_tensorflow_threads(threads: int | None) -> None:
    """Pin TensorFlow's thread pools before it starts (one Spark task slot = one core, no oversubscription)."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        # TensorFlow already started in this process (a reused worker): its pools are set for good.
        pass


def build_backbone(image_size: int, weights: str | None = None):
    """The headless MobileNetV2 with average pooling (Keras's own architecture code)."""
    import keras

    return keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3),
        include_top=False,
        weights=weights,
        pooling="avg",
    )


def validate_feature_layer(layer: str) -> str:
    if layer not in FEATURE_LAYERS:
        raise UsageError(f"bad --feature-layer {layer!r}: choose one of {', '.join(FEATURE_LAYERS)}")
    return layer


def feature_dim(layer: str = DEFAULT_FEATURE_LAYER) -> int:
    """How many numbers a photo's features hold at this layer."""
    return FEATURE_LAYERS[validate_feature_layer(layer)][1]


def build_feature_model(image_size: int, weights: list[np.ndarray] | None = None,
                        layer: str = DEFAULT_FEATURE_LAYER):
    """uint8 (N, S, S, 3) -> float32 (N, feature_dim(layer)): scaling to [-1, 1] in the graph, then the backbone
    up to `layer`, averaged over the image. The weights are the whole backbone's (one payload for every layer);
    a layer below the top leaves the layers above it out of the model, so they cost nothing."""
    import keras

    backbone = build_backbone(image_size)
    if weights is not None:
        backbone.set_weights(weights)
    if validate_feature_layer(layer) != "top":
        inner = backbone.get_layer(FEATURE_LAYERS[layer][0]).output
        backbone = keras.Model(backbone.input, keras.layers.GlobalAveragePooling2D(name="average")(inner),
                               name=f"mobilenet_v2_{layer}")
    pixels = keras.Input((image_size, image_size, 3), dtype="uint8", name="pixels")
    scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(keras.ops.cast(pixels, "float32"))
    features = backbone(scaled)
    return keras.Model(pixels, features, name="fruits_mobilenet_v2")


ReadBytes = Callable[[str], bytes]


def _read_local(location: str) -> bytes:
    with open(local_path(location), "rb") as handle:
        return handle.read()


def check_weights_file(spec: WeightsSpec) -> None:
    """A local weights file must exist (remote ones are checked when read). WeightsError otherwise."""
    if spec.kind == "file" and is_local(spec.location or "") and not os.path.isfile(local_path(spec.location or "")):
        raise WeightsError(f"weights file not found: {spec.location} (give a readable .weights.h5 path or s3:// URI)")


def load_weights(spec: WeightsSpec, image_size: int, read_bytes: ReadBytes | None = None) -> LoadedWeights:
    """Load the backbone weights on the driver, once. Executors receive them by broadcast.

    `read_bytes` reads a weights file from any URI the caller can reach (the Spark job passes a Hadoop
    FileSystem reader so `s3://` works on EMR); local paths are read directly.
    """
    validate_image_size(image_size)
    if spec.kind == "auto":
        try:
            return load_weights(WeightsSpec("imagenet"), image_size, read_bytes)
        except WeightsError as exc:
            loaded = load_weights(WeightsSpec("random", seed=0), image_size, read_bytes)
            warning = (
                f"ImageNet weights are not reachable ({exc}); using RANDOM weights: features and PCA are "
                "only good for a smoke test"
            )
            return LoadedWeights.of(loaded.arrays, "auto->random:0", warning=warning)
    if spec.kind == "imagenet":
        return _load_imagenet(image_size)
    if spec.kind == "random":
        import keras

        keras.utils.set_random_seed(spec.seed)
        arrays = [np.asarray(a, dtype=np.float32) for a in build_backbone(image_size).get_weights()]
        return LoadedWeights.of(arrays, f"random:{spec.seed}")
    check_weights_file(spec)
    return _load_file(spec.location or "", image_size, read_bytes)


def _load_imagenet(image_size: int) -> LoadedWeights:
    if image_size not in IMAGENET_SIZES:
        log.warning("ImageNet weights exist for sizes %s; Keras will use the 224 ones at %d", IMAGENET_SIZES, image_size)
    try:
        model = build_backbone(image_size, weights="imagenet")
    except Exception as exc:  # noqa: BLE001 - download errors come as many types (URLError, OSError, ...)
        raise WeightsError(
            f"cannot get the ImageNet weights ({type(exc).__name__}: {str(exc)[:160]}); with no internet, pass "
            "--weights PATH_OR_S3_URI to a MobileNetV2 .weights.h5 file (or random[:SEED] for a smoke run)"
        ) from None
    arrays = [np.asarray(a, dtype=np.float32) for a in model.get_weights()]
    return LoadedWeights.of(arrays, "imagenet")


def _load_file(location: str, image_size: int, read_bytes: ReadBytes | None) -> LoadedWeights:
    """Read the file and digest its bytes; load its arrays with Keras only if these bytes were never loaded on
    this machine (then remember the arrays' digest, keyed by the bytes' sha256 and the Keras version)."""
    try:
        data = (_read_local if is_local(location) or read_bytes is None else read_bytes)(location)
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"cannot read weights file {location}: {type(exc).__name__}: {str(exc)[:160]}") from None
    file_sha = hashlib.sha256(data).hexdigest()
    remembered = _digest_file(file_sha, image_size)
    known = _read_digest(remembered)
    if known is not None:
        return LoadedWeights(location, known["sha256"], file_sha, nbytes=known["nbytes"],
                             load=lambda: _arrays_from_file(data, location, image_size))
    loaded = LoadedWeights.of(_arrays_from_file(data, location, image_size), location, file_sha)
    _write_digest(remembered, {"sha256": loaded.sha256, "nbytes": loaded.nbytes})
    return loaded


def _arrays_from_file(data: bytes, location: str, image_size: int) -> list[np.ndarray]:
    backbone = build_backbone(image_size)
    # Keras recognises the format by the file name, so the bytes go to a temporary file of the right suffix.
    suffix = ".weights.h5" if location.endswith(".weights.h5") else os.path.splitext(location)[1] or ".weights.h5"
    with tempfile.TemporaryDirectory(prefix="fruits-weights-") as tmp:
        local = os.path.join(tmp, "backbone" + suffix)
        with open(local, "wb") as handle:
            handle.write(data)
        try:
            backbone.load_weights(local)
        except Exception as exc:  # noqa: BLE001 - h5py, ValueError on shape mismatch, ...
            raise WeightsError(
                f"weights file {location} does not fit MobileNetV2(include_top=False): "
                f"{type(exc).__name__}: {str(exc)[:160]}"
            ) from None
    return [np.asarray(a, dtype=np.float32) for a in backbone.get_weights()]


# The digest of a weights file's arrays, remembered per file content: loading the arrays means importing
# TensorFlow and building the model (seconds), and a run with a cached LiteRT model needs only the digest.


def _digest_file(file_sha: str, image_size: int) -> str:
    return os.path.join(cache_dir("weights"), f"{file_sha}_{image_size}_keras{keras_version()}.json")


def _read_digest(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            known = json.load(handle)
        return {"sha256": str(known["sha256"]), "nbytes": int(known["nbytes"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # never seen, or unreadable: load the arrays


def _write_digest(path: str, known: dict) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(known, handle)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home is not a reason to fail the run
        log.warning("could not remember the weights' digest in %s: %s", path, exc)
