"""Run configuration, built once at the edge (flags > environment > config file > defaults), then passed down.

A config file is TOML with a `[run]` table whose keys are the long flag names with `_` for `-`:

    [run]
    weights = "s3://my-bucket/models/mobilenet_v2.weights.h5"
    image_size = 224
    variance = 0.95
    master = "local[*]"
    reference_views = ["data/grocery-store-fruit"]  # a list, like --reference-views given once per INPUT

Environment variables are `FRUITS_` + the key in upper case (`FRUITS_WEIGHTS`, `FRUITS_MASTER`, ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .engines import DEFAULT_ENGINE, validate_engine
from .errors import UsageError
from .images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageLimits
from .model import DEFAULT_FEATURE_LAYER, WeightsSpec, feature_dim, validate_feature_layer, validate_image_size
from .pca_math import validate_k, validate_variance
from .storage import comparable_location

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "FRUITS_"


@dataclass(frozen=True)
class RunConfig:
    """Everything `fruits run` needs. Validated on construction by `validated()`."""

    inputs: tuple[str, ...]  # one or more folders/URIs of photos, each photo keeps its label and split
    output: str
    weights: str = "imagenet"
    image_size: int = 224
    variance: float = 0.95
    k: int | None = None
    # None: the master spark-submit was given (yarn on EMR), else local[*].
    master: str | None = None
    engine: str = DEFAULT_ENGINE
    # None: the engine's own default (fruits.engines.DEFAULT_BATCH_SIZE).
    batch_size: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    # Rows per Arrow batch sent to a Python worker; each batch is cut into `batch_size` inference batches.
    arrow_batch_rows: int = 512
    # Threads per inference call; 0 means "cores of one Spark task" (spark.task.cpus, 1 by default).
    threads: int = 0
    # Extra Spark settings (`--conf key=value`), e.g. S3A credentials providers.
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    # Maven coordinates for `spark.jars.packages` (e.g. hadoop-aws for s3a:// on a laptop).
    packages: tuple[str, ...] = ()
    # --incremental: "off", "on" (reuse the features of a previous run with the same model, else a full run
    # that says why) or "strict" (else exit 2); see fruits.spark.incremental.
    incremental: str = "off"
    # The backbone's layer whose average is a photo's features (fruits.model.FEATURE_LAYERS): "top" (1,280
    # numbers) or "bottleneck" (320).
    feature_layer: str = DEFAULT_FEATURE_LAYER
    # INPUTs whose reference photos also bring the crops identify looks at to the classifier's fit
    # (fruits.spark.reference_views); each one of `inputs`, spelt the same or naming the same folder.
    reference_views: tuple[str, ...] = ()

    @property
    def feature_dim(self) -> int:
        return feature_dim(self.feature_layer)

    @property
    def reference_view_indices(self) -> tuple[int, ...]:
        """The index in `inputs` of each --reference-views INPUT, in the order of `inputs`."""
        keys = [_location_key(location) for location in self.inputs]
        wanted = {_location_key(location) for location in self.reference_views}
        return tuple(i for i, key in enumerate(keys) if key in wanted)

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_bytes, max_pixels=self.max_pixels)

    @property
    def weights_spec(self) -> WeightsSpec:
        return WeightsSpec.parse(self.weights)


    def validated(self) -> RunConfig:
        if isinstance(self.inputs, str):
            raise TypeError("RunConfig.inputs is a tuple of locations, not one string")
        if not self.inputs:
            raise UsageError("no INPUT: give a folder or URI of images")
        for location in self.inputs:
            if not location or not str(location).strip():
                raise UsageError("INPUT is empty: give a folder or URI of images")
        if not self.output or not str(self.output).strip():
            raise UsageError("OUTPUT is empty: give a folder or URI to write the results to")
        validate_image_size(self.image_size)
        validate_variance(self.variance)
        validate_feature_layer(self.feature_layer)
        try:
            validate_k(self.k, self.feature_dim)
        except UsageError as exc:  # say where the bound comes from
            raise UsageError(f"{exc} (the width of --feature-layer {self.feature_layer})") from None
        if isinstance(self.reference_views, str):
            raise TypeError("RunConfig.reference_views is a tuple of locations, not one string")
        keys = {_location_key(location) for location in self.inputs}
        for location in self.reference_views:
            if _location_key(location) not in keys:
                raise UsageError(f"--reference-views {location!r} is not one of the INPUTs ("
                                 f"{', '.join(self.inputs)}): give an INPUT of this run")
        validate_engine(self.engine)
        self.weights_spec  # parses, raises UsageError when malformed
        if self.batch_size is not None:
            _positive("--batch-size", self.batch_size, 1, 4096)
        _positive("--max-bytes", self.max_bytes, 1, None)
        _positive("--max-pixels", self.max_pixels, 1, None)
        _positive("--arrow-batch-rows", self.arrow_batch_rows, 1, 100_000)
        _positive("--threads", self.threads, 0, 256)
        if self.incremental not in ("off", "on", "strict"):
            raise UsageError(f"bad --incremental {self.incremental!r}: give on, strict or off")
        if self.master is not None and not self.master.strip():
            raise UsageError("empty --master: use local[*], local[N], yarn or spark://HOST:PORT")
        return self


def _location_key(location: str) -> str:
    """What two spellings of one INPUT share (storage.comparable_location, the key refuse_overlapping compares INPUTs
    by), for a --reference-views to name its INPUT."""
    return comparable_location(str(location).strip())


def _positive(flag: str, value: Any, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise UsageError(f"bad {flag} {value!r}: give a whole number {bound}")


def _incremental_mode(value: Any) -> str:
    text = str(value).strip().lower()
    return {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off", "": "off"}.get(text, text)


def read_config_file(path: str | None, section: str) -> dict[str, Any]:
    """The `[section]` table of a TOML config file ({} when no file is given)."""
    if not path:
        return {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise UsageError(f"config file {path}: [{section}] must be a table")
    return table


def _coerce(name: str, value: Any, kind: type) -> Any:
    if value is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise UsageError(f"bad value {value!r} for {name}: expected {kind.__name__}") from None
    return text


_KINDS = {
    "weights": str,
    "feature_layer": str,
    "image_size": int,
    "variance": float,
    "k": int,
    "master": str,
    "engine": str,
    "batch_size": int,
    "max_bytes": int,
    "max_pixels": int,
    "overwrite": bool,
    "arrow_batch_rows": int,
    "threads": int,
    "incremental": str,
}


def build_run_config(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Merge flags (None = not given) over FRUITS_* env over the config file over defaults, then validate."""
    env = os.environ if env is None else env
    file_values = dict(file_values or {})
    unknown = set(file_values) - set(_KINDS) - {"spark_conf", "packages", "reference_views"}
    if unknown:
        raise UsageError(f"unknown key(s) in config file [run]: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, kind in _KINDS.items():
        chosen = flags.get(name)
        if chosen is None:
            chosen = env.get(ENV_PREFIX + name.upper())
            source = f"{ENV_PREFIX}{name.upper()}"
        else:
            source = "--" + name.replace("_", "-")
        if chosen is None and name in file_values:
            chosen, source = file_values[name], f"config file key {name}"
        if chosen is not None:
            values[name] = _coerce(source, chosen, kind)
    if "incremental" in values:  # true/1/yes mean "on" (env, config file)
        values["incremental"] = _incremental_mode(values["incremental"])
    spark_conf = dict(file_values.get("spark_conf", {}) or {})
    spark_conf.update(flags.get("spark_conf") or {})
    packages = tuple(file_values.get("packages", ()) or ()) + tuple(flags.get("packages") or ())
    reference_views = flags.get("reference_views") or file_values.get("reference_views") or ()
    if isinstance(reference_views, str):  # a config file's one location
        reference_views = (reference_views,)
    inputs = flags["inputs"] if "inputs" in flags else flags["input"]  # "input": one location (fruits cloud)
    config = RunConfig(
        inputs=tuple(str(location) for location in ([inputs] if isinstance(inputs, str) else inputs)),
        output=str(flags["output"]), spark_conf=spark_conf, packages=packages,
        reference_views=tuple(str(location) for location in reference_views),
    )
    known = {f.name for f in fields(RunConfig)}
    return replace(config, **{k: v for k, v in values.items() if k in known}).validated()
