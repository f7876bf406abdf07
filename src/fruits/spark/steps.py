"""The building blocks of the stages of `fruits run` (fruits.spark.stages calls them in order).

Nothing but counts, the PCA model (d x d) and the manifest ever reaches the driver: every row of data is
read and written by the executors.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from .. import outputs
from ..config import RunConfig
from ..engines import EngineSpec, prepare_payload
from ..errors import InputNotFoundError, NoImagesError, OutputError, PipelineError
from ..model import LoadedWeights, WeightsSpec, load_weights
from ..pca_math import Projection
from ..storage import is_local, join, local_path, qualify, refuse_overlapping, scheme, symlink_loops
from .discover import count_listed, load_files, oversized_errors, readable_photos, skipped_reason
from .featurize import FeaturizeCounters, featurize_images, make_featurize_udf
from .hadoop_fs import HadoopFS, write_file
from .pca import PCA_MODEL_FILE, pca_csv_columns, project, projection_parquet
from .lock import OutputLock
from .progress import Progress, TaskProgress
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


@dataclass(frozen=True)
class Locations:
    """Where the run reads and writes, made absolute when it starts (and stored so in the manifest): a
    dashboard or identify started from another folder finds the same files."""

    inputs: tuple[str, ...]  # URIs
    output: str  # URI
    weights: str  # the --weights spec, with a local path made absolute


def resolve_locations(spark, config: RunConfig) -> Locations:
    """Bare paths mean the local disk in local mode (made absolute), the cluster's file system (HDFS on EMR)
    on a cluster (left to Spark)."""
    local = spark.sparkContext.master.startswith("local")
    inputs = tuple(qualify(location, local_default=local) for location in config.inputs)
    refuse_overlapping(inputs)
    return Locations(inputs, qualify(config.output, local_default=local), absolute_weights(config.weights, local))


def absolute_weights(spec: str, local: bool) -> str:
    """A local weights path made absolute (same form as given: a bare path stays bare); other specs as they are."""
    parsed = WeightsSpec.parse(spec)
    if parsed.kind != "file" or not parsed.location:
        return spec
    location = parsed.location.strip()
    if scheme(location) is None:
        return os.path.abspath(os.path.expanduser(location)) if local else location
    return qualify(location) if is_local(location) else location


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
        "spark.sql.files.openCostInBytes": str(PHOTO_OPEN_COST),
        "spark.sql.files.maxPartitionBytes": str(MAX_SPLIT_BYTES),
        "spark.sql.files.minPartitionNum": str(2 * spark.sparkContext.defaultParallelism),
        # Partitions after a shuffle (the joins of an incremental run's plan, counts by label): Spark's 200
        # are 200 tasks per stage for a few thousand rows, and a persisted join result keeps them (adaptive
        # execution does not coalesce a cached plan): its listing/ was then written as 200 files.
        "spark.sql.shuffle.partitions": str(2 * spark.sparkContext.defaultParallelism),
    }
    # Local photos are listed by the driver itself: past 32 folders (or files given one by one, as an
    # incremental run does) Spark lists through a job of one task per path, seconds on a local disk where the
    # driver's own listing is much faster. Object stores and HDFS keep Spark's parallel listing (the default).
    serial_listing = "spark.sql.sources.parallelPartitionDiscovery.threshold"
    local = spark.sparkContext.master.startswith("local")
    if all(is_local(qualify(location, local_default=local)) for location in config.inputs):
        settings[serial_listing] = str(2**31 - 1)
    elif serial_listing not in config.spark_conf:
        spark.conf.unset(serial_listing)  # a session reused from a local run
    for key, value in settings.items():
        spark.conf.set(key, config.spark_conf.get(key, value))


PHOTO_OPEN_COST = 1024 * 1024
MAX_SPLIT_BYTES = 1024**3
SPLIT_BYTES = "spark.sql.files.maxPartitionBytes"


def listed_bytes(files) -> int:
    """Bytes of the files of a binaryFile relation, from Spark's own listing (no job, no file opened)."""
    return int(str(files._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))


def balanced_split_bytes(n_photos: int, n_bytes: int, slots: int, open_cost: int = PHOTO_OPEN_COST,
                         cap: int = MAX_SPLIT_BYTES) -> int:
    """The split size that cuts `n_photos` photos (`n_bytes` in all) into a whole number of waves of `slots` tasks.

    Spark packs the files, each counted as its bytes plus `open_cost`, into splits of at most this many bytes,
    largest first. Under the plain cap the 14,820 photos of the 114-class slice were 15 tasks of ~1,020 on 2
    cores: the last ran alone while the other core waited (docs/performance.md). Here the tasks are the fewest
    multiple of `slots` (at least two a slot) that keeps every split under `cap`, each sized for its share of
    the photos, rounded up: the last split is then at most one photo a task short of the others."""
    n_photos = max(n_photos, 1)
    total = n_bytes + n_photos * open_cost
    tasks = max(2, -(-total // (cap * slots))) * slots
    per_task = -(-n_photos // tasks)
    return min(cap, max(open_cost, int(per_task * total / n_photos)))


@contextmanager
def balanced_photo_splits(spark, discovered: Discovered, config: RunConfig) -> Iterator[None]:
    """The session's split size set by `balanced_split_bytes` for the photos of `discovered` while the block runs
    (Spark cuts a scan into splits when the job runs), then set back to what it was, failed or not. A value given
    with --conf is left alone."""
    if SPLIT_BYTES in config.spark_conf:
        yield
        return
    n_bytes = sum(listed_bytes(files) for files, n in zip(discovered.files, discovered.listed) if n)
    before = spark.conf.get(SPLIT_BYTES)
    spark.conf.set(SPLIT_BYTES, str(balanced_split_bytes(discovered.n_input, n_bytes,
                                                          spark.sparkContext.defaultParallelism)))
    try:
        yield
    finally:
        spark.conf.set(SPLIT_BYTES, before)


def check_inputs(fs: HadoopFS, input_uris: tuple[str, ...]) -> None:
    for input_uri in input_uris:
        try:
            exists = fs.exists(input_uri)
        except Exception as exc:  # noqa: BLE001 - unknown scheme, missing S3 connector, bad bucket
            raise InputNotFoundError(f"cannot reach INPUT {input_uri}: {java_error_summary(exc)}") from None
        if not exists:
            raise InputNotFoundError.missing(input_uri)


def prepare_output(fs: HadoopFS, output_uri: str, overwrite: bool, cleanup: ExitStack | None = None) -> None:
    """Make OUTPUT ours before any long work: refuse foreign data, lock a local OUTPUT (released by `cleanup`),
    drop an old manifest, check writability."""
    try:
        exists = fs.exists(output_uri)
        if exists and not fs.is_dir(output_uri):
            raise OutputError(f"OUTPUT {output_uri} is a file: give a folder")
        names = set(fs.list_names(output_uri)) if exists else set()
        ours = bool(names & {outputs.MANIFEST, outputs.MARKER, outputs.LOCK})
        if names - {outputs.LOGS} and not ours and not overwrite:
            raise OutputError(
                f"OUTPUT {output_uri} is not empty and holds no fruits run; choose an empty folder or pass "
                "--overwrite to write into it"
            )
        if cleanup is not None and is_local(output_uri):
            fs.mkdirs(output_uri)
            lock = OutputLock(local_path(output_uri), outputs.LOCK).acquire()
            cleanup.callback(lock.release)
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


def broadcast_model(spark, config: RunConfig, fs: HadoopFS | None = None, weights_spec: str | None = None
                    ) -> BroadcastModel:
    """Load the weights once on the driver and broadcast the engine payload (no executor downloads them).

    The caller destroys the broadcast (`BroadcastModel.destroy`) when the run ends, failed or not."""
    fs = fs or HadoopFS(spark)
    spec = WeightsSpec.parse(weights_spec) if weights_spec else config.weights_spec
    weights = load_weights(spec, config.image_size, read_bytes=fs.read_bytes)
    if weights.warning:
        log.warning("!" * 80)
        log.warning("WARNING: %s", weights.warning)
        log.warning("!" * 80)
    payload = prepare_payload(config.engine, weights, config.image_size, layer=config.feature_layer)
    pickled = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    broadcast = spark.sparkContext.broadcast(payload)
    spec = EngineSpec(config.engine, config.image_size, weights.sha256, config.threads or task_cpus(spark),
                      config.batch_size, config.feature_layer)
    return BroadcastModel(weights, spec, broadcast, len(pickled), hashlib.sha256(pickled).hexdigest())


@dataclass
class FeaturizeResult:
    n_input: int
    n_features: int
    n_errors: int
    counters: dict[str, int] = field(default_factory=dict)
    per_input: tuple[outputs.InputCounts, ...] = ()


@dataclass
class Discovered:
    """The photos under each INPUT, listed once (one Spark binaryFile relation per INPUT) and counted."""

    input_uris: tuple[str, ...]
    files: tuple  # the binaryFile DataFrame of each INPUT (content not read yet)
    listed: tuple[int, ...]  # image files listed under each INPUT, zero-byte ones included

    @property
    def n_input(self) -> int:
        return sum(self.listed)

    def only(self, indices: tuple[int, ...]) -> Discovered:
        """The listing of the INPUTs of these indices alone."""
        return Discovered(tuple(self.input_uris[i] for i in indices), tuple(self.files[i] for i in indices),
                          tuple(self.listed[i] for i in indices))


def discover(spark, input_uris: tuple[str, ...]) -> Discovered:
    """List the image files under each INPUT (the driver lists, no image is read); NoImagesError if there are
    none at all."""
    files, listed = [], []
    for uri in input_uris:
        relation = load_files(spark, uri)
        count = count_listed(relation)
        loops = symlink_loops(local_path(uri)) if is_local(uri) else []
        if loops:
            from pyspark.sql import functions as F

            log.warning("leaving out %d symlink loop(s) under %s: %s", len(loops), uri, ", ".join(loops))
            inside = F.lit(False)
            for link in loops:
                inside = inside | F.col("path").startswith(f"file:{link}/")
            count -= relation.filter(inside).count()  # the paths listed through the loops, never read
            relation = relation.filter(~inside)
        files.append(relation)
        listed.append(count)
    files, listed = tuple(files), tuple(listed)
    if sum(listed) == 0:
        raise NoImagesError(f"no .jpg, .jpeg or .png file under INPUT {', '.join(input_uris)}")
    log.debug("found %d image files", sum(listed))
    return Discovered(tuple(input_uris), files, listed)


FEATURES_SCHEMA = "path string, label string, split string, features array<float>"
PCA_SCHEMA = "path string, label string, split string, pca array<float>"


def read_features(spark, uri: str):
    """features/ with its known schema: Spark does not infer it (inferring reads a Parquet footer in a Spark
    job of its own, a scheduling round per read)."""
    return spark.read.schema(FEATURES_SCHEMA).parquet(uri)


def featurized_rows(discovered: Discovered, udf, max_bytes: int):
    """path, label, split, features, error, input (the INPUT's index) of every file the scan yields: the
    readable photos through the CNN, the ones over --max-bytes as error rows without being read."""
    from pyspark.sql import functions as F

    parts = []
    for index, files in enumerate(discovered.files):
        photos = featurize_images(readable_photos(files, max_bytes), udf)
        parts.append(photos.withColumn("input", F.lit(index)))
        parts.append(oversized_errors(files, max_bytes).withColumn("input", F.lit(index)))
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    return rows


def featurize_to_output(spark, discovered: Discovered, model: BroadcastModel, config: RunConfig,
                        uris: dict[str, str], cleanup: ExitStack | None = None,
                        on_progress: Progress | None = None) -> FeaturizeResult:
    """Read the photos, run the CNN on the executors, write features/ and errors/, account for every file.

    A file over --max-bytes is selected out by its length before the content column is touched (Spark's
    binaryFile source applies the length filter before it opens the file): it becomes an error row without
    being read. A file the scan never yields (empty, deleted after the listing, unreadable) is counted from
    the difference between the listing and the rows written, per INPUT, without any path reaching the driver.
    """
    from pyspark import StorageLevel
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    counters = FeaturizeCounters(spark)
    udf = make_featurize_udf(model.spec, model.broadcast, config.limits, counters)
    # Kept on the executors' disks so features/ and errors/ come from one pass of the CNN. (One write partitioned
    # by status into a staging folder, then renamed, was tried instead: no gain measured, see
    # docs/performance.md and `benchmarks/levers.py profile`.)
    featurized = featurized_rows(discovered, udf, config.max_bytes).persist(StorageLevel.DISK_ONLY)
    # Rows are counted per INPUT as they are written (Spark's observed metrics: exact, once per successful write).
    n_inputs = len(discovered.input_uris)
    per_input = [F.sum(F.when(F.col("input") == i, 1).otherwise(0)).alias(f"input_{i}") for i in range(n_inputs)]
    written = {name: Observation(name) for name in (outputs.FEATURES, outputs.ERRORS)}
    try:
        with balanced_photo_splits(spark, discovered, config), \
                TaskProgress(spark, "featurize", discovered.n_input, on_progress):
            ok = featurized.filter(F.col("error").isNull())
            ok = ok.observe(written[outputs.FEATURES], *per_input).select("path", "label", "split", "features")
            write(ok.write.mode("overwrite"), "parquet", uris[outputs.FEATURES])
            failed = featurized.filter(F.col("error").isNotNull())
            failed = failed.observe(written[outputs.ERRORS], *per_input).select("path", F.col("error").alias("reason"))
            write(failed.write.mode("overwrite"), "parquet", uris[outputs.ERRORS])
    finally:
        featurized.unpersist()
    features = [int(written[outputs.FEATURES].get[f"input_{i}"] or 0) for i in range(n_inputs)]
    errors = [int(written[outputs.ERRORS].get[f"input_{i}"] or 0) for i in range(n_inputs)]
    skipped = [listed - ok - bad for listed, ok, bad in zip(discovered.listed, features, errors)]
    if any(count < 0 for count in skipped):
        raise PipelineError(f"accounting broke: more rows written ({features}, {errors}) than files listed "
                            f"({discovered.listed})")
    if any(skipped):
        # Spark's scan drops zero-byte files, and (with ignoreMissingFiles/ignoreCorruptFiles) files deleted
        # after the listing or that cannot be opened: one error row per INPUT says how many.
        rows = [(uri, skipped_reason(count)) for uri, count in zip(discovered.input_uris, skipped) if count]
        frame = spark.createDataFrame(rows, "path string, reason string")
        write(frame.write.mode("append"), "parquet", uris[outputs.ERRORS])
        log.info("%d listed file(s) were empty or could not be opened", sum(skipped))
    counts = tuple(
        outputs.InputCounts(uri, listed, ok, bad + skip, skip)
        for uri, listed, ok, bad, skip in zip(discovered.input_uris, discovered.listed, features, errors, skipped)
    )
    return FeaturizeResult(
        n_input=discovered.n_input,
        n_features=sum(features),
        n_errors=sum(errors) + sum(skipped),
        counters=counters.as_dict(),
        per_input=counts,
    )


def write_pca_outputs(spark, features, projection: Projection, uris: dict[str, str],
                      cleanup: ExitStack | None = None) -> dict[str, int]:
    """pca/ (projected by the executors) and pca_csv/ (from pca/); returns images per label."""
    projected, projection_broadcast = project(features, projection, spark)
    with ExitStack() as local:
        (cleanup or local).callback(projection_broadcast.destroy)
        with TaskProgress(spark, "project"):
            write(projected.write.mode("overwrite"), "parquet", uris[outputs.PCA])
    pca_rows = spark.read.schema(PCA_SCHEMA).parquet(uris[outputs.PCA])  # known: no inference job
    # escape '"': a quote inside a quoted field is doubled (RFC 4180, as pandas and spreadsheets read CSV and as
    # the driver writes it: fruits.spark.driver_pca), where Spark's default would write \".
    csv_writer = (pca_rows.selectExpr(*pca_csv_columns(projection.k)).write.mode("overwrite").option("header", "true")
                  .option("escape", '"'))
    write(csv_writer, "csv", uris[outputs.PCA_CSV])
    counts = features.groupBy("label").count().collect()
    return labels_in_order((row["label"], row["count"]) for row in counts)


def labels_in_order(counts) -> dict:
    """(label, photos) pairs as the manifest's `labels`: sorted by label, a photo without one (None) as "None"."""
    return dict(sorted(counts, key=lambda item: str(item[0])))


def write_pca_model(spark, projection: Projection, uris: dict[str, str]) -> None:
    """pca_model/: the fitted projection as one Parquet row (fruits.spark.pca.projection_parquet)."""
    HadoopFS(spark).delete(uris[outputs.PCA_MODEL])  # "overwrite", as Spark's writer does
    write_file(spark, join(uris[outputs.PCA_MODEL], PCA_MODEL_FILE), projection_parquet(projection))


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
