"""The steps of `fruits run`, one function each, so the job and the notebook run the very same code.

Order: `configure_session` -> `prepare_output` -> `broadcast_model` -> `featurize_to_output`
-> `fit_pca` (fruits.spark.pca) -> `write_pca_outputs` -> `write_manifest`.
Nothing but counts, the PCA model (d x d) and the manifest ever reaches the driver: every row of data is
read and written by the executors.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass, field

from .. import outputs
from ..config import RunConfig
from ..engines import EngineSpec, prepare_payload
from ..errors import InputNotFoundError, NoImagesError, OutputError, PipelineError
from ..model import LoadedWeights, load_weights
from ..pca_math import Projection
from ..storage import join, qualify
from .discover import EMPTY_FILE_REASON, count_listed, load_files, skipped_files, with_content
from .featurize import FeaturizeCounters, featurize_images, make_featurize_udf
from .hadoop_fs import HadoopFS
from .pca import pca_csv_columns, project, projection_dataframe
from .progress import TaskProgress
from .session import task_cpus

log = logging.getLogger("fruits")


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


def resolve_locations(spark, config: RunConfig) -> tuple[str, str]:
    """(INPUT, OUTPUT) as URIs. Bare paths mean the local disk in local mode, the cluster's file system
    (HDFS on EMR) on a cluster."""
    local = spark.sparkContext.master.startswith("local")
    return qualify(config.input, local_default=local), qualify(config.output, local_default=local)


def output_uris(output_uri: str) -> dict[str, str]:
    return {name: join(output_uri, name) for name in outputs.RESULT_DIRS}


def configure_session(spark, config: RunConfig) -> None:
    """Per-run Spark SQL settings (runtime ones: they work on a session someone else started).

    A key the user set with `--conf` (config.spark_conf) is left alone, so every default here can be tuned.
    """
    settings = {
        # Rows per Arrow batch handed to a Python worker (Spark's default, 10,000 photos, is far too many).
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(config.arrow_batch_rows),
        # Photo splits. A photo costs the CNN about the same whatever its bytes, so each file is counted as 1 MB
        # more than it weighs (Spark's 4 MB default gives 4 photos a task), and the photos are cut into ~2 tasks
        # per core: every task start costs the Python worker ~0.2 s, and Spark balances the splits by size. The
        # 1 GB cap keeps a task under ~1,000 small photos on a big cluster, so a lost task costs little to redo.
        "spark.sql.files.openCostInBytes": str(1024 * 1024),
        "spark.sql.files.maxPartitionBytes": str(1024**3),
        "spark.sql.files.minPartitionNum": str(2 * spark.sparkContext.defaultParallelism),
    }
    for key, value in settings.items():
        spark.conf.set(key, config.spark_conf.get(key, value))


def check_input(fs: HadoopFS, input_uri: str) -> None:
    try:
        exists = fs.exists(input_uri)
    except Exception as exc:  # noqa: BLE001 - unknown scheme, missing S3 connector, bad bucket
        raise InputNotFoundError(f"cannot reach INPUT {input_uri}: {java_error_summary(exc)}") from None
    if not exists:
        raise InputNotFoundError.missing(input_uri)


def prepare_output(fs: HadoopFS, output_uri: str, overwrite: bool) -> None:
    """Make OUTPUT ours before any long work: refuse foreign data, drop an old manifest, check writability."""
    try:
        exists = fs.exists(output_uri)
        if exists and not fs.is_dir(output_uri):
            raise OutputError(f"OUTPUT {output_uri} is a file: give a folder")
        names = set(fs.list_names(output_uri)) if exists else set()
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


@dataclass
class BroadcastModel:
    """The weights loaded on the driver and what was broadcast to the workers for the chosen engine."""

    weights: LoadedWeights
    spec: EngineSpec
    broadcast: object  # pyspark Broadcast of the engine payload
    payload_bytes: int
    payload_sha256: str

    def destroy(self) -> None:
        self.broadcast.destroy()


def broadcast_model(spark, config: RunConfig, fs: HadoopFS | None = None) -> BroadcastModel:
    """Load the weights once on the driver and broadcast the engine payload (no executor downloads them)."""
    fs = fs or HadoopFS(spark)
    weights = load_weights(config.weights_spec, config.image_size, read_bytes=fs.read_bytes)
    if weights.warning:
        log.warning("!" * 80)
        log.warning("WARNING: %s", weights.warning)
        log.warning("!" * 80)
    payload = prepare_payload(config.engine, weights, config.image_size)
    pickled = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    broadcast = spark.sparkContext.broadcast(payload)
    spec = EngineSpec(config.engine, config.image_size, weights.sha256, config.threads or task_cpus(spark),
                      config.batch_size)
    return BroadcastModel(weights, spec, broadcast, len(pickled), hashlib.sha256(pickled).hexdigest())


@dataclass
class FeaturizeResult:
    n_input: int
    n_features: int
    n_errors: int
    counters: dict[str, int] = field(default_factory=dict)


@dataclass
class Discovered:
    """The photos under INPUT, listed once (Spark's binaryFile relation) and counted."""

    input_uri: str
    files: object  # the binaryFile DataFrame
    n_input: int


def discover(spark, input_uri: str) -> Discovered:
    """List the image files under INPUT (the driver lists, no image is read); NoImagesError if there are none."""
    files = load_files(spark, input_uri)
    n_input = count_listed(files)
    if n_input == 0:
        raise NoImagesError(f"no .jpg, .jpeg or .png file under INPUT {input_uri}")
    log.info("found %d image files", n_input)
    return Discovered(input_uri, files, n_input)


def featurize_to_output(spark, discovered: Discovered, model: BroadcastModel, config: RunConfig,
                        uris: dict[str, str]) -> FeaturizeResult:
    """Read the photos, run the CNN on the executors, write features/ and errors/, account for every file."""
    from pyspark import StorageLevel
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    files, n_input = discovered.files, discovered.n_input
    counters = FeaturizeCounters(spark)
    udf = make_featurize_udf(model.spec, model.broadcast, config.limits, counters)
    # Kept on the executors' disks so features/ and errors/ come from one pass of the CNN.
    featurized = featurize_images(with_content(files, config.max_bytes), udf).persist(StorageLevel.DISK_ONLY)
    # Rows are counted as they are written (Spark's observed metrics: exact, once per successful write).
    written = {name: Observation(name) for name in (outputs.FEATURES, outputs.ERRORS)}
    try:
        with TaskProgress(spark, "featurize"):
            ok = featurized.filter(F.col("error").isNull()).select("path", "label", "split", "features")
            ok = ok.observe(written[outputs.FEATURES], F.count(F.lit(1)).alias("rows"))
            write(ok.write.mode("overwrite"), "parquet", uris[outputs.FEATURES])
            failed = featurized.filter(F.col("error").isNotNull()).select("path", F.col("error").alias("reason"))
            failed = failed.observe(written[outputs.ERRORS], F.count(F.lit(1)).alias("rows"))
            write(failed.write.mode("overwrite"), "parquet", uris[outputs.ERRORS])
    finally:
        featurized.unpersist()
    n_features = int(written[outputs.FEATURES].get["rows"])
    n_errors = int(written[outputs.ERRORS].get["rows"])
    if n_features + n_errors < n_input:
        # Spark's scans drop zero-byte files; they are still photos the user gave us, so they become errors.
        # Checked after the fact: the usual folder has none, and it costs no extra pass over the files.
        empty = skipped_files(spark, files)
        log.info("%d of the image files are empty", len(empty))
        rows = spark.createDataFrame([(path, EMPTY_FILE_REASON) for path in empty], "path string, reason string")
        write(rows.write.mode("append"), "parquet", uris[outputs.ERRORS])
        n_errors += len(empty)
    if n_input != n_features + n_errors:
        raise PipelineError(f"accounting broke: {n_input} inputs != {n_features} features + {n_errors} errors")
    if n_features < 2:
        raise NoImagesError(
            f"only {n_features} of {n_input} images could be decoded, PCA needs at least 2; "
            f"the reasons are in {uris[outputs.ERRORS]}"
        )
    return FeaturizeResult(n_input, n_features, n_errors, counters.as_dict())


def write_pca_outputs(spark, features, projection: Projection, uris: dict[str, str]) -> dict[str, int]:
    """pca/ (projected by the executors), pca_csv/ (from pca/), pca_model/; returns images per label."""
    projected, projection_broadcast = project(features, projection, spark)
    with TaskProgress(spark, "project"):
        write(projected.write.mode("overwrite"), "parquet", uris[outputs.PCA])
    projection_broadcast.destroy()
    pca_rows = spark.read.parquet(uris[outputs.PCA])
    csv_writer = pca_rows.select(*pca_csv_columns(projection.k)).write.mode("overwrite").option("header", "true")
    write(csv_writer, "csv", uris[outputs.PCA_CSV])
    model_writer = projection_dataframe(spark, projection).coalesce(1).write.mode("overwrite")
    write(model_writer, "parquet", uris[outputs.PCA_MODEL])
    counts = features.groupBy("label").count().collect()
    return dict(sorted(((row["label"], row["count"]) for row in counts), key=lambda item: str(item[0])))


def write_manifest(fs: HadoopFS, output_uri: str, manifest: outputs.Manifest) -> None:
    """Last write of a run: its presence is what says the OUTPUT is complete."""
    fs.write_bytes(join(output_uri, outputs.MANIFEST), manifest.to_json().encode())


def write(writer, fmt: str, target: str) -> None:
    try:
        writer.format(fmt).save(target)
    except Exception as exc:
        if type(exc).__name__ in ("Py4JJavaError", "AnalysisException") and _is_storage_error(exc):
            raise OutputError(f"cannot write {target}: {java_error_summary(exc)}") from None
        raise


def _is_storage_error(exc: BaseException) -> bool:
    text = java_error_summary(exc).lower()
    return any(word in text for word in ("permission", "access denied", "accessdenied", "read-only", "no space"))
