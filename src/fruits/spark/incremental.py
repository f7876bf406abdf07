"""Incremental runs (`fruits run ... --incremental`): featurize only the photos that are new or changed.

What is reused, and why path + size + modification time (not a content hash)
-------------------------------------------------------------------------
Every run writes `listing/` beside `features/`: path, length and modification time of every photo it listed
(read from Spark's `binaryFile` listing, which never opens a photo for these columns). An incremental run lists
INPUT the same way and joins that listing with the previous `listing/` on `path`, in Spark:

    same path, same length, same modification time, features in the previous run  -> reused (features copied)
    same path, other length or modification time                                  -> changed (featurized again)
    same path and metadata, but an error row in the previous run                   -> retried (featurized again)
    path unknown to the previous run                                               -> new (featurized)
    path of the previous run no longer listed                                      -> removed (dropped)

Metadata, not a hash: hashing means reading every byte of every photo at every run (on S3, one GET per object
and the whole bucket through the executors), which is most of what an incremental run is meant to save; the
CNN is the expensive part but reading is not free either. The modification time is reliable on both storages
the job targets: S3 gives every PUT a new Last-Modified (objects are immutable, a "replacement" is a new object)
and a local or HDFS write moves the mtime. It is also what Spark's own file streaming source uses to remember the
files it has seen. The cost of the choice: a tool that rewrites a photo and then restores its old mtime and size
(`touch -r`, some copy tools with "preserve times") hides the change; a permission change (chmod) changes
neither, so an unchanged photo that became unreadable keeps its features until its content changes. A plain
(full) run re-reads everything.

Only the photos to featurize reach the driver (their paths; Spark's own listing holds every file status there
anyway), never the whole listing: the classification, the counts and the copy of the reused features run on the
executors.

Atomicity
---------
Nothing of the previous run is touched until the new one is complete: the new listing/, features/, errors/, pca/,
pca_csv/ and pca_model/ are written under OUTPUT/_incremental/, then `commit` deletes the manifest, swaps each
folder in with a Hadoop rename and writes the new manifest last. A failure or a kill before the commit leaves the
previous run whole, with its manifest (the staging folder is removed by the next run). During the commit there is
no manifest: a kill there leaves no manifest (readers refuse the folder, the next --incremental run is a full run),
never a manifest over a mix. On a local disk or HDFS each rename is a metadata operation (milliseconds); on S3 a
"rename" is a copy then a delete of every object, so the no-manifest window lasts as long as copying the outputs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from .. import outputs
from ..config import RunConfig
from ..errors import FruitsError, RunOutputError
from ..storage import join
from .discover import EMPTY_FILE_REASON, skipped_files, with_content
from .featurize import FeaturizeCounters, featurize_images, make_featurize_udf
from .hadoop_fs import HadoopFS
from .progress import TaskProgress
from .steps import write

log = logging.getLogger("fruits")

# Per photo of a run: path, length (bytes), modification_time (timestamp); what the next run compares with.
LISTING = outputs.LISTING
# Where an incremental run writes its outputs before the swap (a leading "_": Spark readers skip it).
STAGING = "_incremental"
# The folders an incremental run writes and swaps in.
SWAPPED_DIRS = (LISTING, outputs.FEATURES, outputs.ERRORS, outputs.PCA, outputs.PCA_CSV, outputs.PCA_MODEL)

MODES = ("off", "on", "strict")

NEW, CHANGED, RETRIED, REUSED, REMOVED = "new", "changed", "retried", "reused", "removed"


class NotReusableError(FruitsError):
    """--incremental=strict and nothing in OUTPUT can be reused (CLI exit 2, with the reason)."""


@dataclass(frozen=True)
class Previous:
    """A finished run in OUTPUT whose features may be reused (its manifest and where its folders are)."""

    output_uri: str
    manifest: outputs.Manifest

    @property
    def weights_sha256(self) -> str:
        return self.manifest.weights.sha256


def normalise_mode(value) -> str:
    """--incremental / FRUITS_INCREMENTAL / config file value -> "off", "on" or "strict"."""
    if value is None or value is False:
        return "off"
    if value is True:
        return "on"
    text = str(value).strip().lower()
    aliases = {"": "off", "0": "off", "false": "off", "no": "off", "1": "on", "true": "on", "yes": "on"}
    text = aliases.get(text, text)
    if text not in MODES:
        from ..errors import UsageError

        raise UsageError(f"bad --incremental {value!r}: give on, strict or off")
    return text


# --- is there a previous run to reuse? -----------------------------------------------------------------------


def find_previous(fs: HadoopFS, output_uri: str, config: RunConfig) -> tuple[Previous | None, str]:
    """(the reusable previous run, "") or (None, the one-line reason nothing can be reused).

    Checks all but the weights' sha256, which needs the weights loaded (`check_weights`).
    """
    manifest_uri = join(output_uri, outputs.MANIFEST)
    try:
        if not fs.exists(manifest_uri):
            return None, f"OUTPUT holds no finished run (no {outputs.MANIFEST})"
        manifest = outputs.parse_manifest(fs.read_bytes(manifest_uri), where=manifest_uri)
    except RunOutputError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - unreachable bucket, permission denied: a full run will say more
        return None, f"cannot read the previous manifest: {str(exc).splitlines()[0][:200]}"
    checks = (
        ("image size", manifest.image_size, config.image_size),
        ("engine", manifest.engine, config.engine),
        ("--max-bytes", manifest.limits.max_bytes, config.max_bytes),
        ("--max-pixels", manifest.limits.max_pixels, config.max_pixels),
    )
    for what, before, now in checks:
        if before != now:
            return None, f"the previous run used another {what} ({before} then, {now} now)"
    for name in (outputs.FEATURES, LISTING):
        if not fs.exists(join(output_uri, name)):
            hint = " (deleted by hand?)" if name == outputs.FEATURES else " (a run made before incremental runs)"
            return None, f"the previous run's {name}/ is missing{hint}"
    return Previous(output_uri, manifest), ""


def check_weights(previous: Previous, weights_sha256: str) -> str:
    """"" when the previous run's features came from these weights, else the reason."""
    if previous.weights_sha256 != weights_sha256:
        return (f"the previous run used other weights (sha256 {previous.weights_sha256[:12]}... then, "
                f"{weights_sha256[:12]}... now)")
    return ""


# --- the index every run writes ------------------------------------------------------------------------------


def input_index(files):
    """path, length, modification_time of every photo Spark's scan yields (no photo is opened for this)."""
    from pyspark.sql import functions as F

    return files.select("path", "length", F.col("modificationTime").alias("modification_time"))


def write_input_index(files, uri: str) -> None:
    """listing/ of a full run. Written before the photos are read: a photo rewritten in between gets an older
    time here than the content featurized, so the next run featurizes it again (never the reverse)."""
    write(input_index(files).write.mode("overwrite"), "parquet", uri)


# --- planning: which photo is what -----------------------------------------------------------------------------


@dataclass
class Plan:
    classified: object  # DataFrame path, length, modification_time, status (persisted)
    counts: dict[str, int] = field(default_factory=dict)
    todo_paths: list[str] = field(default_factory=list)  # non-empty photos to featurize
    empty_paths: list[str] = field(default_factory=list)  # zero-byte photos (error rows)

    def index(self):
        """listing/ of this run: every photo listed now, with the length and time it was compared with."""
        from pyspark.sql import functions as F

        return self.classified.filter(F.col("status") != REMOVED).select("path", "length", "modification_time")

    def release(self) -> None:
        self.classified.unpersist()


def plan(spark, files, n_input: int, previous: Previous) -> Plan:
    """Join the new listing with the previous run's listing/, features/ and errors/ (in Spark)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    listed = input_index(files)
    n_scanned = listed.count()
    empty_paths: list[str] = []
    if n_scanned < n_input:
        # Spark's scans drop zero-byte files: they are still photos, and become error rows (rare: the listing
        # difference is only computed when the counts differ).
        empty_paths = skipped_files(spark, files)
        empty = spark.createDataFrame([(path, 0, None) for path in empty_paths],
                                      "path string, length long, modification_time timestamp")
        listed = listed.unionByName(empty)
    before = spark.read.parquet(join(previous.output_uri, LISTING)).select(
        "path", F.col("length").alias("length_before"), F.col("modification_time").alias("time_before"))
    # A zero-byte photo of a previous full run is in its errors/, not in its listing/.
    errors_before = (spark.read.parquet(join(previous.output_uri, outputs.ERRORS)).select("path")
                     .join(before.select("path"), "path", "left_anti")
                     .select("path", F.lit(None).cast("long").alias("length_before"),
                             F.lit(None).cast("timestamp").alias("time_before")))
    featured = (spark.read.parquet(join(previous.output_uri, outputs.FEATURES)).select("path")
                .withColumn("had_features", F.lit(True)))
    known = before.unionByName(errors_before).join(featured, "path", "left").withColumn(
        "known", F.lit(True))
    same = (F.col("length").eqNullSafe(F.col("length_before"))
            & F.col("modification_time").eqNullSafe(F.col("time_before")))
    status = (F.when(F.col("known").isNull(), NEW)
              # A zero-byte photo has no time here; it was an error row before (retried) or a photo (changed).
              .when((F.col("length") == 0) & F.col("had_features").isNull(), RETRIED)
              .when(~same, CHANGED)
              .when(F.col("had_features").isNull(), RETRIED)
              .otherwise(REUSED))
    listed = listed.withColumn("listed", F.lit(True))
    joined = listed.join(known, "path", "full_outer")
    classified = joined.select(
        "path", "length", "modification_time",
        F.when(F.col("listed").isNull(), REMOVED).otherwise(status).alias("status"),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    counts = {name: 0 for name in (REUSED, NEW, CHANGED, RETRIED, REMOVED)}
    counts.update({row["status"]: int(row["count"]) for row in classified.groupBy("status").count().collect()})
    todo = classified.filter(F.col("status").isin(NEW, CHANGED, RETRIED) & (F.col("length") > 0))
    todo_paths = [row["path"] for row in todo.select("path").collect()]
    return Plan(classified, counts, todo_paths, empty_paths)


# --- featurizing the photos to do, and copying the reused ones -----------------------------------------------

_GLOB_CHARS = re.compile(r"([\\{}\[\]*?])")


def escape_glob(path: str) -> str:
    """Spark globs a path it is given to load; a photo named `a[1].jpg` must be read as itself."""
    return _GLOB_CHARS.sub(r"\\\1", path)


@dataclass
class StagedFeatures:
    n_features: int
    n_errors: int
    n_new_features: int
    counters: dict[str, int]


def featurize_plan(spark, the_plan: Plan, previous: Previous, model, config: RunConfig,
                   staged: dict[str, str]) -> StagedFeatures:
    """Write staged features/ (reused rows + new ones, one write) and errors/ (the new errors only)."""
    from pyspark import StorageLevel
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    reused_paths = the_plan.classified.filter(F.col("status") == REUSED).select("path")
    reused = (spark.read.parquet(join(previous.output_uri, outputs.FEATURES))
              .join(reused_paths, "path", "left_semi").select("path", "label", "split", "features"))
    counters = FeaturizeCounters(spark)
    observed = {name: Observation(name) for name in ("reused", "new", "errors")}
    featurized = None
    try:
        new_ok = failed = None
        if the_plan.todo_paths:
            files = spark.read.format("binaryFile").load([escape_glob(path) for path in the_plan.todo_paths])
            udf = make_featurize_udf(model.spec, model.broadcast, config.limits, counters)
            featurized = featurize_images(with_content(files, config.max_bytes), udf).persist(
                StorageLevel.DISK_ONLY)
            new_ok = featurized.filter(F.col("error").isNull()).select("path", "label", "split", "features")
            failed = featurized.filter(F.col("error").isNotNull()).select("path", F.col("error").alias("reason"))
        empty = spark.createDataFrame([(path, EMPTY_FILE_REASON) for path in the_plan.empty_paths],
                                      "path string, reason string")
        failed = empty if failed is None else failed.unionByName(empty)
        reused = reused.observe(observed["reused"], F.count(F.lit(1)).alias("rows"))
        features = reused
        if new_ok is not None:
            features = reused.unionByName(new_ok.observe(observed["new"], F.count(F.lit(1)).alias("rows")))
        with TaskProgress(spark, "featurize"):
            write(features.write.mode("overwrite"), "parquet", staged[outputs.FEATURES])
            failed = failed.observe(observed["errors"], F.count(F.lit(1)).alias("rows"))
            write(failed.write.mode("overwrite"), "parquet", staged[outputs.ERRORS])
    finally:
        if featurized is not None:
            featurized.unpersist()
    n_reused = int(observed["reused"].get["rows"])
    n_new = int(observed["new"].get["rows"]) if the_plan.todo_paths else 0
    return StagedFeatures(n_reused + n_new, int(observed["errors"].get["rows"]), n_new, counters.as_dict())


# --- staging and the swap --------------------------------------------------------------------------------------


def staging_uris(output_uri: str) -> dict[str, str]:
    return {name: join(output_uri, STAGING, name) for name in SWAPPED_DIRS}


def discard_staging(fs: HadoopFS, output_uri: str) -> None:
    """What a killed incremental run left behind (never read: only a finished staging is swapped in)."""
    fs.delete(join(output_uri, STAGING), recursive=True)


def _rename(spark, source: str, target: str) -> None:
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    source_path, target_path = jvm.org.apache.hadoop.fs.Path(source), jvm.org.apache.hadoop.fs.Path(target)
    if not source_path.getFileSystem(conf).rename(source_path, target_path):
        raise OSError(f"cannot rename {source} to {target}")


def commit(spark, fs: HadoopFS, output_uri: str, manifest: dict) -> None:
    """Swap the staged folders in: manifest deleted first, new manifest written last (see the module doc)."""
    from .steps import write_manifest

    staged = staging_uris(output_uri)
    fs.delete(join(output_uri, outputs.MANIFEST), recursive=False)
    for name in SWAPPED_DIRS:
        target = join(output_uri, name)
        fs.delete(target, recursive=True)
        _rename(spark, staged[name], target)
    write_manifest(fs, output_uri, manifest)
    discard_staging(fs, output_uri)

