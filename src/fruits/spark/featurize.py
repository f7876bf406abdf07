"""Featurization on the executors: an iterator pandas UDF that builds the model once per Python worker.

The driver broadcasts the engine payload (weights, or the LiteRT flatbuffer made from them) with
`SparkContext.broadcast`; a worker reads it only the first time it meets this job's key and reuses its
predictor across every Arrow batch and task after that (`fruits.engines.load_predictor`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pandas as pd  # pandas UDF type hints are resolved from module globals

from ..engines import EngineSpec, build_count, load_predictor
from ..extract import extract_features
from ..images import ImageLimits

RESULT_SCHEMA = "features array<float>, error string"

log = logging.getLogger("fruits")


def _import_worker_modules(engine: str):
    def warm(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        # What the featurize UDF will need; TensorFlow only for the keras engine (seconds per worker).
        import PIL.Image  # noqa: F401

        from .. import engines, extract  # noqa: F401

        if engine == "keras":
            import tensorflow  # noqa: F401
        else:
            import ai_edge_litert.interpreter  # noqa: F401
        yield from batches

    return warm


def warm_up_workers(spark, engine: str) -> threading.Thread:
    """Start the Python workers and their imports in the background, while the driver prepares the model.

    On a cold start each worker spends seconds on its start-up (daemon fork, pandas/pyarrow, the engine's
    library); Python workers are reused, so doing it during the driver's weight loading takes it off the
    featurization's critical path. Best effort: a failure here only costs the time it would have saved.
    """
    slots = max(1, spark.sparkContext.defaultParallelism)

    def job():
        try:
            warm = spark.range(0, slots, numPartitions=slots).mapInPandas(_import_worker_modules(engine), "id long")
            warm.write.format("noop").mode("overwrite").save()
        except Exception as exc:  # noqa: BLE001
            log.debug("worker warm-up failed: %s", exc)

    thread = threading.Thread(target=job, name="fruits-warm-up", daemon=True)
    thread.start()
    return thread


class FeaturizeCounters:
    """Spark accumulators the workers add to: model builds and inference calls, read back by the driver."""

    def __init__(self, spark):
        context = spark.sparkContext
        self.model_builds = context.accumulator(0)
        self.arrow_batches = context.accumulator(0)
        self.inference_calls = context.accumulator(0)

    def as_dict(self) -> dict[str, int]:
        return {
            "model_builds": self.model_builds.value,
            "arrow_batches": self.arrow_batches.value,
            "inference_calls": self.inference_calls.value,
        }


def make_featurize_udf(spec: EngineSpec, payload_broadcast, limits: ImageLimits, counters: FeaturizeCounters):
    """A pandas UDF: Series of image bytes -> DataFrame(features: array<float> | null, error: str | null)."""
    from pyspark.sql.functions import pandas_udf

    model_builds, arrow_batches, inference_calls = (
        counters.model_builds, counters.arrow_batches, counters.inference_calls)

    @pandas_udf(RESULT_SCHEMA)
    def featurize(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        builds_before = build_count()
        predictor = load_predictor(spec, lambda: payload_broadcast.value)
        model_builds.add(build_count() - builds_before)
        for contents in batches:
            result = extract_features(list(contents), predictor, spec.image_size, limits, spec.inference_batch_size)
            arrow_batches.add(1)
            inference_calls.add(result.inference_calls)
            yield pd.DataFrame({"features": result.features, "error": result.errors})

    return featurize


def featurize_images(images, featurize_udf):
    """path, label, split, features, error (exactly one of the last two is null)."""
    from pyspark.sql import functions as F

    # The struct is materialised once, then split: the UDF runs once per row, not once per field.
    scored = images.select("path", "label", "split", featurize_udf(F.col("content")).alias("result"))
    return scored.select("path", "label", "split", "result.features", "result.error")
