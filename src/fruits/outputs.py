"""The layout of a `fruits run` OUTPUT and its typed manifest, shared by the job that writes it and every
reader (run_output, the web app, identify, evaluate).

    OUTPUT/
      manifest.json   written last, only when the run succeeded (a `Manifest`, see below)
      features/       Parquet: path, label, split, features (array<float>, 1280; 320 for the bottleneck layer)
      pca/            Parquet: path, label, split, pca (array<float>, k)
      pca_csv/        CSV with a header: path, label, split, pc_1 ... pc_k
      errors/         Parquet: path, reason
      pca_model/      Parquet, one row: k, dim, mean, components (k x d), explained_variance_ratio (d)
      listing/        Parquet: path, length, modification_time of every photo listed (for --incremental)
      classifier/     model.json: the linear classifier on pca/ fitted by pyspark.ml (runs of 2+ labels)
      _fruits_output  marker: this folder belongs to fruits (a re-run may replace it)
      _fruits_lock    while a local run writes: host, pid and start time of that run
      _logs/          the libraries' logs (TensorFlow, Spark, ...) of the last local run

The manifest is one frozen dataclass tree. `Manifest.to_json()` is what the job writes and
`parse_manifest()` what every reader calls: a manifest of another version, or one lacking a field or holding
a value of the wrong type, is refused with one `RunOutputError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import RunOutputError

MANIFEST = "manifest.json"
MARKER = "_fruits_output"
LOCK = "_fruits_lock"
LOGS = "_logs"
FEATURES = "features"
PCA = "pca"
PCA_CSV = "pca_csv"
ERRORS = "errors"
PCA_MODEL = "pca_model"
LISTING = "listing"
CLASSIFIER = "classifier"
CLASSIFIER_FILE = "classifier/model.json"
# classifier/ is one of them so that an incremental run stages it and swaps it in with the others.
RESULT_DIRS = (FEATURES, PCA, PCA_CSV, ERRORS, PCA_MODEL, LISTING, CLASSIFIER)
# 2: typed manifest; `inputs` (one entry per INPUT) replaced `input`; locations are absolute.
MANIFEST_VERSION = 2
SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class WeightsInfo:
    """The weights the run used. `spec` is what identify reloads: a local path is stored absolute."""

    spec: str
    source: str
    sha256: str  # of the weights as loaded (what identify checks it gets back)
    file_sha256: str | None = None  # of the file, when the weights came from one
    broadcast_bytes: int = 0
    warning: str | None = None


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class InputCounts:
    """One INPUT of the run (an absolute URI) and what became of its image files."""

    uri: str
    n_input: int
    n_features: int
    n_errors: int  # n_skipped included
    # Listed but never yielded by Spark's scan: empty (0 bytes), deleted after the listing, or unreadable.
    # errors/ holds one row for them (path = the INPUT), not one per file.
    n_skipped: int = 0


@dataclass(frozen=True)
class IncrementalInfo:
    """`--incremental`: what was reused from the previous run in OUTPUT (fruits.spark.incremental).
    reused + new + changed + retried == n_input; removed photos were in the previous run only."""

    mode: str  # "incremental", or "full" when nothing could be reused
    reason: str | None = None  # why nothing was reused (mode "full")
    reused: int = 0
    new: int = 0
    changed: int = 0
    retried: int = 0  # error rows of the previous run, unchanged, tried again
    removed: int = 0
    previous_started_at: str | None = None


@dataclass(frozen=True)
class ClassifierInfo:
    """The linear classifier `fruits run` fitted on pca/ (fruits.spark.classifier); identify reads `file`."""

    file: str  # relative to OUTPUT
    labels: int
    fitted_by: str
    regularisation: float
    max_iterations: int
    iterations: int
    n_references: int
    seconds: float
    # "none": every reference photo weighs the same; "input": every input the same (fruits.spark.classifier).
    weighting: str = "none"
    references_per_input: dict[str, int] = field(default_factory=dict)  # with "input": what was balanced
    tolerance: float = 1e-6  # L-BFGS's convergence tolerance (the value before it was recorded)
    standardization: bool = True  # the L2 penalty on standardised coordinates (every run before it was recorded)
    # --reference-views: {"inputs": [INPUT, ...], "views_per_photo": 2, "rows": n} (fruits.spark.reference_views);
    # empty when the classifier saw whole photos only.
    reference_views: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """What manifest.json says about a successful run. Counts hold for the whole run and for each input:
    n_input == n_features + n_errors."""

    inputs: tuple[InputCounts, ...]
    output: str
    n_input: int
    n_features: int
    n_errors: int
    labels: dict[str, int]
    k: int
    k_source: str  # "variance" (chosen from --variance) or "k" (given with --k)
    variance_target: float | None
    cumulative_variance: float
    feature_dim: int
    image_size: int
    engine: str
    batch_size: int
    limits: Limits
    weights: WeightsInfo
    master: str
    started_at: str
    finished_at: str
    timings_s: dict[str, float]
    # Measured on the workers: the model is built once per Python worker, not per batch or task.
    featurize_counters: dict[str, int] = field(default_factory=dict)
    broadcast: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    # None: a run of one label (nothing to tell apart), or a version-2 manifest written before classifiers.
    classifier: ClassifierInfo | None = None
    status: str = SUCCEEDED
    manifest_version: int = MANIFEST_VERSION
    incremental: IncrementalInfo | None = None  # only for runs started with --incremental
    # The backbone's layer of the features (fruits.model.FEATURE_LAYERS); runs made before it was a choice: top.
    feature_layer: str = "top"

    @property
    def input_uris(self) -> tuple[str, ...]:
        return tuple(item.uri for item in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = MANIFEST) -> Manifest:
        """The typed manifest; RunOutputError naming the first field that is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise RunOutputError(f"{where} is not a fruits manifest (not a JSON object); re-run `fruits run`")
        version = data.get("manifest_version")
        if version != MANIFEST_VERSION:
            newer = isinstance(version, int) and not isinstance(version, bool) and version > MANIFEST_VERSION
            raise RunOutputError(
                f"{where}: field manifest_version is {version!r}, this fruits reads version {MANIFEST_VERSION}; "
                + ("upgrade fruits" if newer else "re-run `fruits run` to rewrite this OUTPUT")
            )
        manifest = _build(cls, data, where, "")
        if manifest.status != SUCCEEDED:
            raise RunOutputError(f"{where}: field status is {manifest.status!r}, the run did not succeed; "
                                 "re-run `fruits run`")
        return manifest


def parse_manifest(text: str | bytes, where: str = MANIFEST) -> Manifest:
    """Parse and check a manifest; RunOutputError (one line, naming the field) when it is not one of a
    successful run of this manifest version."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunOutputError(f"{where} is not valid JSON ({exc}); re-run `fruits run`") from None
    return Manifest.from_dict(data, where)


# --- (de)serialisation of the dataclass tree ------------------------------------------------------------------


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_plain(item) for key, item in value.items()}
    return value


def _build(cls: type, data: Any, where: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise RunOutputError(f"{where}: field {prefix.rstrip('.') or '(root)'} should be an object; "
                             "re-run `fruits run`")
    hints = typing.get_type_hints(cls)
    values = {}
    for spec in dataclasses.fields(cls):
        name = prefix + spec.name
        if spec.name not in data:
            if spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING:
                continue
            raise RunOutputError(f"{where} lacks field {name}: not a complete fruits run of manifest version "
                                 f"{MANIFEST_VERSION}; re-run `fruits run`")
        values[spec.name] = _convert(hints[spec.name], data[spec.name], where, name)
    return cls(**values)


def _convert(kind: Any, value: Any, where: str, name: str) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(inner, value, where, name)
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where, name + ".")
    if origin is tuple:
        if not isinstance(value, list):
            _wrong(where, name, "a list", value)
        return tuple(_convert(args[0], item, where, f"{name}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            _wrong(where, name, "an object", value)
        return {key: _convert(args[1], item, where, f"{name}.{key}") for key, item in value.items()}
    if kind is Any:
        return value
    if kind is bool:
        if not isinstance(value, bool):
            _wrong(where, name, "true or false", value)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _wrong(where, name, "a number", value)
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _wrong(where, name, "a whole number", value)
        return value
    if kind is str:
        if not isinstance(value, str):
            _wrong(where, name, "a string", value)
        return value
    raise TypeError(f"manifest field {name}: unsupported type {kind!r}")  # a bug in the dataclasses above


def _wrong(where: str, name: str, expected: str, value: Any) -> typing.NoReturn:
    shown = json.dumps(value)[:40]
    raise RunOutputError(f"{where}: field {name} should be {expected}, not {shown}; re-run `fruits run`")
