"""`fruits run`: the whole chain in one Spark application, step by step (see fruits.spark.steps).

discover (binaryFile) -> featurize (broadcast weights, pandas UDF) -> features/ + errors/ -> PCA fit once
-> pca/ + pca_csv/ + pca_model/ -> manifest.json, written last and only on success.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any

from .. import __version__, outputs
from ..config import RunConfig
from ..model import FEATURE_DIM
from ..storage import join
from .classifier import fit_classifier
from .featurize import warm_up_workers
from .hadoop_fs import HadoopFS
from .pca import PcaFit, fit_pca
from .steps import (
    BroadcastModel,
    FeaturizeResult,
    broadcast_model,
    discover,
    check_input,
    configure_session,
    featurize_to_output,
    output_uris,
    prepare_output,
    resolve_locations,
    write_manifest,
    write_pca_outputs,
)

log = logging.getLogger("fruits")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    import keras
    import pyspark
    import tensorflow as tf

    return {
        "fruits": __version__,
        "spark": pyspark.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def build_manifest(spark, config: RunConfig, input_uri: str, output_uri: str, model: BroadcastModel,
                   counts: FeaturizeResult, fit: PcaFit, labels: dict[str, int], started_at: str,
                   timings: dict[str, float]) -> dict[str, Any]:
    """What manifest.json says about a successful run (the readers rely on these keys)."""
    projection = fit.projection
    return {
        "manifest_version": outputs.MANIFEST_VERSION,
        "status": "succeeded",
        "input": input_uri,
        "output": output_uri,
        "n_input": counts.n_input,
        "n_features": counts.n_features,
        "n_errors": counts.n_errors,
        "labels": labels,
        "k": projection.k,
        "k_source": fit.k_source,
        "variance_target": config.variance if config.k is None else None,
        "cumulative_variance": projection.cumulative_variance,
        "feature_dim": FEATURE_DIM,
        "image_size": config.image_size,
        "engine": config.engine,
        "batch_size": model.spec.inference_batch_size,
        "limits": {"max_bytes": config.max_bytes, "max_pixels": config.max_pixels},
        "weights": {
            "spec": config.weights,
            "source": model.weights.source,
            "sha256": model.weights.sha256,
            "file_sha256": model.weights.file_sha256,
            "broadcast_bytes": model.weights.nbytes,
            "warning": model.weights.warning,
        },
        # Measured on the workers: the model is built once per Python worker, not per batch or task.
        "featurize_counters": counts.counters,
        "broadcast": {"engine_payload_bytes": model.payload_bytes, "engine_payload_sha256": model.payload_sha256},
        "versions": versions(),
        "master": spark.sparkContext.master,
        "started_at": started_at,
        "finished_at": now(),
        "timings_s": {name: round(seconds, 3) for name, seconds in timings.items()},
    }


def _timed(function, *args):
    started = time.monotonic()
    return function(*args), time.monotonic() - started


def run_pipeline(config: RunConfig, spark, on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the chain for `config` on `spark`; return the manifest that was written last to OUTPUT."""
    config = config.validated()
    stage = on_stage or (lambda message: log.info("%s", message))
    started_at = now()
    t_start = time.monotonic()
    fs = HadoopFS(spark)
    configure_session(spark, config)
    input_uri, output_uri = resolve_locations(spark, config)
    check_input(fs, input_uri)
    prepare_output(fs, output_uri, config.overwrite)
    uris = output_uris(output_uri)

    stage(f"[1/5] loading weights ({config.weights_spec.describe()}) on the driver and broadcasting them, "
          f"listing {input_uri}")
    # While the driver loads the weights (seconds of TensorFlow), Spark lists the photos and starts the
    # Python workers: both are on the critical path of a cold run and need nothing from the model.
    warm_up = warm_up_workers(spark, config.engine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fruits-discover") as pool:
        listing = pool.submit(_timed, discover, spark, input_uri)
        model = broadcast_model(spark, config, fs)
        discovered, t_discover = listing.result()
    warm_up.join()
    t_prepared = time.monotonic()

    stage(f"[2/5] featurizing {discovered.n_input} images (engine {config.engine}, {config.image_size}px)")
    counts = featurize_to_output(spark, discovered, model, config, uris)
    t_featurized = time.monotonic()
    log.info("featurized %d images, %d errors (%.1f s)", counts.n_features, counts.n_errors,
             t_featurized - t_prepared)

    stage(f"[3/5] fitting PCA on {counts.n_features} x {FEATURE_DIM} features")
    features = spark.read.parquet(uris[outputs.FEATURES])
    fit = fit_pca(features, FEATURE_DIM, config.variance, config.k)
    projection = fit.projection
    if projection.k > counts.n_features - 1:
        log.warning("k=%d is more than the %d components %d images can carry", projection.k,
                    counts.n_features - 1, counts.n_features)
    t_pca = time.monotonic()
    log.info("k=%d components keep %.4f of the variance", projection.k, projection.cumulative_variance)

    stage(f"[4/5] writing pca/, pca_csv/ and pca_model/ under {output_uri}")
    labels = write_pca_outputs(spark, features, projection, uris)
    t_written = time.monotonic()
    model.destroy()

    timings = {
        "discover": t_discover,
        "prepare": t_prepared - t_start,
        "featurize": t_featurized - t_prepared,
        "pca": t_pca - t_featurized,
        "write": t_written - t_pca,
        "total": time.monotonic() - t_start,
    }
    manifest = build_manifest(spark, config, input_uri, output_uri, model, counts, fit, labels, started_at, timings)
    manifest["classifier"] = fit_classifier(spark, uris[outputs.PCA], output_uri, fs)  # issue 11: identify's model
    stage(f"[5/5] writing {join(output_uri, outputs.MANIFEST)}")
    write_manifest(fs, output_uri, manifest)
    return manifest
