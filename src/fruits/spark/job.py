"""`fruits run`: the whole chain in one Spark application.

discover (binaryFile) -> featurize (broadcast weights, pandas UDF) -> features/ + errors/ -> PCA fit once
-> pca/ + pca_csv/ + pca_model/ -> manifest.json, written last and only on success.

Nothing but counts, the PCA model (d x d) and the manifest ever reaches the driver: every row of data is read
and written by the executors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import pickle
import platform
import time
from collections.abc import Callable
from typing import Any

from .. import __version__, outputs
from ..config import RunConfig
from ..engines import EngineSpec, prepare_payload
from ..errors import InputNotFoundError, NoImagesError, OutputError, PipelineError
from ..model import FEATURE_DIM, load_weights
from ..storage import join, qualify
from .discover import EMPTY_FILE_REASON, count_listed, listing, load_files, skipped_files, with_content
from .featurize import FeaturizeCounters, featurize_images, make_featurize_udf
from .hadoop_fs import HadoopFS
from .pca import fit_pca, pca_csv_columns, project, projection_dataframe
from .progress import TaskProgress
from .session import task_cpus

log = logging.getLogger("fruits")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def java_error_summary(exc: BaseException) -> str:
    """The first line of a Java exception's message, without the JVM stack trace."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return f"{java.getClass().getSimpleName()}: {java.getMessage()}".splitlines()[0][:300]
        except Exception:  # noqa: BLE001 - the gateway may be gone
            pass
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _check_input(fs: HadoopFS, input_uri: str) -> None:
    try:
        exists = fs.exists(input_uri)
    except Exception as exc:  # noqa: BLE001 - unknown scheme, missing S3 connector, bad bucket
        raise InputNotFoundError(f"cannot reach INPUT {input_uri}: {java_error_summary(exc)}") from None
    if not exists:
        raise InputNotFoundError(f"INPUT not found: {input_uri} (give a folder of .jpg/.jpeg/.png photos)")


def _prepare_output(fs: HadoopFS, output_uri: str, overwrite: bool) -> None:
    """Make OUTPUT ours before any long work: refuse foreign data, drop an old manifest, check writability."""
    try:
        names = set(fs.list_names(output_uri)) if fs.exists(output_uri) else set()
        if fs.exists(output_uri) and not fs.is_dir(output_uri):
            raise OutputError(f"OUTPUT {output_uri} is a file: give a folder")
        ours = outputs.MANIFEST in names or outputs.MARKER in names
        if names and not ours and not overwrite:
            raise OutputError(
                f"OUTPUT {output_uri} is not empty and holds no fruits run; choose an empty folder or pass "
                "--overwrite to write into it"
            )
        # A run that fails from here on must not leave the previous run's manifest claiming success.
        fs.delete(join(output_uri, outputs.MANIFEST), recursive=False)
        fs.mkdirs(output_uri)
        fs.write_bytes(join(output_uri, outputs.MARKER), b"written by fruits run; a re-run replaces this folder\n")
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001 - permission denied, read-only file system, bad bucket
        raise OutputError(f"cannot write to OUTPUT {output_uri}: {java_error_summary(exc)}") from None


def _versions() -> dict[str, str]:
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


def run_pipeline(config: RunConfig, spark, on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the chain for `config` on `spark`; return the manifest that was written last to OUTPUT."""
    config = config.validated()
    stage = on_stage or (lambda message: log.info("%s", message))
    started_at = _now()
    t_start = time.monotonic()
    fs = HadoopFS(spark)
    # Rows per Arrow batch handed to a Python worker (Spark's default, 10,000 photos, is far too many).
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.arrow_batch_rows))
    # A photo costs the CNN the same whatever its bytes: Spark is told each file weighs 1 MB more than it
    # does, so a 128 MB split holds ~120 small photos (not 4 with the 4 MB default, nor thousands).
    spark.conf.set("spark.sql.files.openCostInBytes", str(1024 * 1024))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(128 * 1024 * 1024))
    input_uri = qualify(config.input, local_default=config.is_local_master)
    output_uri = qualify(config.output, local_default=config.is_local_master)
    _check_input(fs, input_uri)
    _prepare_output(fs, output_uri, config.overwrite)

    stage(f"[1/5] loading weights ({config.weights_spec.describe()}) on the driver")
    weights = load_weights(config.weights_spec, config.image_size, read_bytes=fs.read_bytes)
    if weights.warning:
        log.warning("!" * 80)
        log.warning("WARNING: %s", weights.warning)
        log.warning("!" * 80)
    payload = prepare_payload(config.engine, weights, config.image_size)
    payload_bytes = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    broadcast = spark.sparkContext.broadcast(payload)
    threads = config.threads or task_cpus(spark)
    spec = EngineSpec(config.engine, config.image_size, weights.sha256, threads)
    t_prepared = time.monotonic()

    uri = {name: join(output_uri, name) for name in outputs.RESULT_DIRS}
    stage(f"[2/5] featurizing images under {input_uri} (engine {config.engine}, {config.image_size}px)")
    files = load_files(spark, input_uri)
    n_input = count_listed(files)
    if n_input == 0:
        raise NoImagesError(f"no .jpg, .jpeg or .png file under INPUT {input_uri}")
    n_scanned = listing(files).count()
    # Spark's scans drop zero-byte files; they are still photos the user gave us, so they become errors.
    empty = skipped_files(spark, files) if n_scanned < n_input else []
    log.info("found %d image files%s", n_input, f" ({len(empty)} of them empty)" if empty else "")
    counters = FeaturizeCounters(spark)
    udf = make_featurize_udf(spec, broadcast, config.limits, config.batch_size, counters)
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    # Kept on the executors' disks so features/ and errors/ come from one pass of the CNN.
    featurized = featurize_images(with_content(files, config.max_bytes), udf).persist(StorageLevel.DISK_ONLY)
    try:
        with TaskProgress(spark, "featurize"):
            ok = featurized.filter(F.col("error").isNull()).select("path", "label", "split", "features")
            _write(ok.write.mode("overwrite"), "parquet", uri[outputs.FEATURES])
            failed = featurized.filter(F.col("error").isNotNull()).select("path", F.col("error").alias("reason"))
            if empty:
                failed = failed.unionByName(
                    spark.createDataFrame([(path, EMPTY_FILE_REASON) for path in empty], "path string, reason string"))
            _write(failed.write.mode("overwrite"), "parquet", uri[outputs.ERRORS])
    finally:
        featurized.unpersist()
    t_featurized = time.monotonic()

    features = spark.read.parquet(uri[outputs.FEATURES])
    n_features = features.count()
    n_errors = spark.read.parquet(uri[outputs.ERRORS]).count()
    log.info("featurized %d images, %d errors (%.1f s)", n_features, n_errors, t_featurized - t_prepared)
    if n_input != n_features + n_errors:
        raise PipelineError(f"accounting broke: {n_input} inputs != {n_features} features + {n_errors} errors")
    if n_features < 2:
        raise NoImagesError(
            f"only {n_features} of {n_input} images could be decoded, PCA needs at least 2; "
            f"the reasons are in {uri[outputs.ERRORS]}"
        )

    stage(f"[3/5] fitting PCA on {n_features} x {FEATURE_DIM} features")
    fit = fit_pca(features, FEATURE_DIM, config.variance, config.k)
    projection = fit.projection
    if projection.k > n_features - 1:
        log.warning("k=%d is more than the %d components %d images can carry", projection.k, n_features - 1, n_features)
    t_pca = time.monotonic()
    log.info("k=%d components keep %.4f of the variance", projection.k, projection.cumulative_variance)

    stage(f"[4/5] writing pca/, pca_csv/ and pca_model/ under {output_uri}")
    projected, projection_broadcast = project(features, projection, spark)
    with TaskProgress(spark, "project"):
        _write(projected.write.mode("overwrite"), "parquet", uri[outputs.PCA])
    projection_broadcast.destroy()
    pca_rows = spark.read.parquet(uri[outputs.PCA])
    _write(pca_rows.select(*pca_csv_columns(projection.k)).write.mode("overwrite").option("header", "true"), "csv",
           uri[outputs.PCA_CSV])
    _write(projection_dataframe(spark, projection).coalesce(1).write.mode("overwrite"), "parquet",
           uri[outputs.PCA_MODEL])
    labels = {row["label"]: row["count"] for row in features.groupBy("label").count().collect()}
    t_written = time.monotonic()
    broadcast.destroy()

    manifest = {
        "manifest_version": outputs.MANIFEST_VERSION,
        "status": "succeeded",
        "input": input_uri,
        "output": output_uri,
        "n_input": n_input,
        "n_features": n_features,
        "n_errors": n_errors,
        "labels": dict(sorted(labels.items(), key=lambda item: str(item[0]))),
        "k": projection.k,
        "k_source": fit.k_source,
        "variance_target": config.variance if config.k is None else None,
        "cumulative_variance": projection.cumulative_variance,
        "feature_dim": FEATURE_DIM,
        "image_size": config.image_size,
        "engine": config.engine,
        "batch_size": config.batch_size,
        "limits": {"max_bytes": config.max_bytes, "max_pixels": config.max_pixels},
        "weights": {
            "spec": config.weights,
            "source": weights.source,
            "sha256": weights.sha256,
            "file_sha256": weights.file_sha256,
            "broadcast_bytes": weights.nbytes,
            "warning": weights.warning,
        },
        # Measured on the workers: the model is built once per Python worker, not per batch or task.
        "featurize_counters": counters.as_dict(),
        "broadcast": {
            "engine_payload_bytes": len(payload_bytes),
            "engine_payload_sha256": hashlib.sha256(payload_bytes).hexdigest(),
        },
        "versions": _versions(),
        "master": spark.sparkContext.master,
        "started_at": started_at,
        "finished_at": _now(),
        "timings_s": {
            "prepare": round(t_prepared - t_start, 3),
            "featurize": round(t_featurized - t_prepared, 3),
            "pca": round(t_pca - t_featurized, 3),
            "write": round(t_written - t_pca, 3),
            "total": round(time.monotonic() - t_start, 3),
        },
    }
    stage(f"[5/5] writing {join(output_uri, outputs.MANIFEST)}")
    fs.write_bytes(join(output_uri, outputs.MANIFEST), (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def _write(writer, fmt: str, target: str) -> None:
    try:
        writer.format(fmt).save(target)
    except Exception as exc:
        if type(exc).__name__ in ("Py4JJavaError", "AnalysisException") and _is_storage_error(exc):
            raise OutputError(f"cannot write {target}: {java_error_summary(exc)}") from None
        raise


def _is_storage_error(exc: BaseException) -> bool:
    text = java_error_summary(exc).lower()
    return any(word in text for word in ("permission", "access denied", "accessdenied", "read-only", "no space"))
