"""Incremental runs (`fruits run ... --incremental`): featurize only the photos that are new or changed.

What is reused, and why path + size + modification time (not a content hash)
-------------------------------------------------------------------------
Every run writes `listing/` beside `features/`: path, length and modification time of every photo it listed
(read from Spark's `binaryFile` listing, which never opens a photo for these columns). An incremental run lists
INPUT the same way and compares that listing with the previous `listing/` on `path` (fruits.spark.plan):

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

The comparison is made on the driver with pandas up to fruits.spark.plan.DRIVER_PLAN_MAX_PHOTOS photos (three
plain scans collected through Arrow: seconds faster than Spark's first joins in a fresh JVM), and as joins on the
executors beyond it, where only the paths to featurize reach the driver (Spark's own listing holds every file
status there anyway).

The reused features are the previous run's Parquet files hard-linked as they are when nothing was changed or
removed and OUTPUT is local, else rows copied by the executors (`add_reused_features`). The PCA is refitted on
all the features, but when every previous row is kept it reads only the new ones: every run keeps the moments of
its features/ (count, mean, centred scatter) beside them, and those are merged with the new rows' (`kept_moments`).

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

import dataclasses
import logging
import os
import re
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass

from .. import outputs
from ..config import RunConfig
from ..errors import FruitsError, NoImagesError, OutputError, PipelineError, RunOutputError
from ..storage import is_local, join, local_path
from . import stages
from .discover import skipped_reason
from .driver_pca import collect_features, fits_on_driver
from .featurize import FeaturizeCounters
from .hadoop_fs import HadoopFS, read_file
from .pca import MOMENTS_FILE, Moments, array_moments, feature_moments, merge_moments, moments_from_bytes
from .plan import CHANGED, LISTING, NEW, REMOVED, RETRIED, REUSED, Plan, listed_now, plan
from .progress import Progress
from .steps import Discovered, FeaturizeResult, featurize_to_output, output_uris, prepare_output, resolve_locations, \
    check_inputs, configure_session, FEATURES_SCHEMA, read_features, write, write_manifest

log = logging.getLogger("fruits")

# Where an incremental run writes its outputs before the swap (a leading "_": Spark readers skip it).
STAGING = "_incremental"
# The folders an incremental run writes and swaps in.
SWAPPED_DIRS = outputs.RESULT_DIRS

# Up to this many paths (~100 bytes each) are sent to every task rather than joined through a shuffle.
BROADCAST_PATHS = 200_000


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
        ("feature layer", manifest.feature_layer, config.feature_layer),
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


def write_listing(started: stages.Started, prepared: stages.Prepared) -> None:
    """listing/ of a full run. Written before the photos are read: a photo rewritten in between gets an older
    time here than the content featurized, so the next run featurizes it again (never the reverse)."""
    listing = listed_now(prepared.discovered).drop("input")
    write(listing.write.mode("overwrite"), "parquet", started.uris[LISTING])


# --- start: claim OUTPUT without touching the previous run ----------------------------------------------------


def start(spark, config: RunConfig, cleanup: ExitStack) -> tuple[stages.Started, Previous | None, str]:
    """stages.start for a run with --incremental (or without: then exactly stages.start).

    With a reusable previous run, OUTPUT is locked but its manifest is kept, and the run's folders (`uris`) are
    the staging ones under OUTPUT/_incremental/. Otherwise stages.start claims OUTPUT for a full run."""
    if config.incremental == "off":
        return stages.start(spark, config, cleanup), None, "--incremental not given"
    clock, started_at = time.monotonic(), stages.now()
    config = config.validated()
    fs = HadoopFS(spark)
    configure_session(spark, config)
    locations = resolve_locations(spark, config)
    check_inputs(fs, locations.inputs)
    previous, why = find_previous(fs, locations.output, config)
    if previous is None:
        refuse_if_strict(config, why)
        started = stages.start(spark, config, cleanup)
        discard_staging(fs, locations.output)  # left by a run killed during its swap (which left no manifest)
        return started, None, why
    if is_local(locations.output):
        from .lock import OutputLock

        lock = OutputLock(local_path(locations.output), outputs.LOCK).acquire()
        cleanup.callback(lock.release)
    try:
        discard_staging(fs, locations.output)
    except Exception as exc:  # noqa: BLE001 - permission denied, read-only file system
        raise OutputError(f"cannot write to OUTPUT {locations.output}: {str(exc).splitlines()[0][:200]}") from None
    started = stages.Started(config, locations, staging_uris(locations.output), started_at, clock,
                             time.monotonic() - clock)
    return started, previous, ""


def refuse_if_strict(config: RunConfig, why: str) -> None:
    if config.incremental == "strict":
        raise NotReusableError(f"--incremental=strict: nothing in OUTPUT can be reused: {why}")


def fall_back(spark, started: stages.Started, why: str) -> stages.Started:
    """The weights differ: claim OUTPUT for a full run after all (the lock is already ours)."""
    refuse_if_strict(started.config, why)
    fs = HadoopFS(spark)
    prepare_output(fs, started.locations.output, started.config.overwrite)
    discard_staging(fs, started.locations.output)
    return dataclasses.replace(started, uris=output_uris(started.locations.output))


# --- planning: which photo is what -----------------------------------------------------------------------------


# --- featurizing the photos to do, and copying the reused ones -----------------------------------------------

_GLOB_CHARS = re.compile(r"([\\{}\[\]*?])")


def escape_glob(path: str) -> str:
    """Spark globs a path it is given to load; a photo named `a[1].jpg` must be read as itself."""
    return _GLOB_CHARS.sub(r"\\\1", path)


def _photos(spark, paths: list[str], like):
    """The binaryFile relation of these photos (the same options as the listing of an INPUT)."""
    from pyspark.sql import functions as F

    if not paths:
        return like.filter(F.lit(False))
    return (spark.read.format("binaryFile").option("ignoreMissingFiles", "true")
            .option("ignoreCorruptFiles", "true").load([escape_glob(path) for path in paths]))


def featurize(spark, started: stages.Started, prepared: stages.Prepared, previous: Previous, cleanup: ExitStack,
              on_progress: Progress | None = None) -> tuple[stages.Featurized, outputs.IncrementalInfo, float]:
    """stages.featurize for an incremental run: plan, write the staged listing/, featurize the photos to do
    (the job's own featurize step on a relation of just those photos), then add the reused rows to features/.
    Returns the stage result, the counts for the manifest and the planning seconds."""

    t0 = time.monotonic()
    discovered, uris = prepared.discovered, started.uris
    the_plan = plan(spark, discovered, previous.output_uri, previous.manifest.n_input)
    cleanup.callback(the_plan.release)
    c = the_plan.counts
    log.info("incremental: %d reused, %d new, %d changed, %d retried, %d removed", c[REUSED], c[NEW], c[CHANGED],
             c[RETRIED], c[REMOVED])
    the_plan.write_index(spark, uris[LISTING])
    n_inputs = len(discovered.input_uris)
    todo_paths = [[path for index, path in the_plan.todo if index == i] for i in range(n_inputs)]
    todo = Discovered(discovered.input_uris,
                      tuple(_photos(spark, paths, files) for paths, files in zip(todo_paths, discovered.files)),
                      tuple(len(paths) for paths in todo_paths))
    if the_plan.todo:
        done = featurize_to_output(spark, todo, prepared.model, started.config, uris, cleanup, on_progress)
        per_todo = done.per_input
        counters = done.counters
    else:  # nothing to featurize: empty features/ and errors/ with their schemas, the reused rows follow
        empty = spark.createDataFrame([], FEATURES_SCHEMA)
        write(empty.write.mode("overwrite"), "parquet", uris[outputs.FEATURES])
        write(spark.createDataFrame([], "path string, reason string").write.mode("overwrite"), "parquet",
              uris[outputs.ERRORS])
        per_todo = tuple(outputs.InputCounts(uri, 0, 0, 0, 0) for uri in discovered.input_uris)
        counters = FeaturizeCounters(spark).as_dict()  # all zero: the CNN saw no photo
    # Before the reused rows join the staged features/:
    moments = kept_moments(spark, previous, the_plan, uris[outputs.FEATURES], sum(item.n_features for item in per_todo))
    add_reused_features(spark, previous, the_plan, uris[outputs.FEATURES])
    # Listed but never yielded by the scan of the listing (empty files, ...): one error row per INPUT, as a
    # full run writes.
    per_input, skipped_rows = [], []
    for i, (uri, listed, item) in enumerate(zip(discovered.input_uris, discovered.listed, per_todo)):
        scanned = sum(count for (index, name), count in the_plan.by_input.items() if index == i)
        skipped = listed - scanned
        if skipped < 0:
            raise PipelineError(f"accounting broke: {scanned} photos scanned under {uri}, {listed} listed")
        if skipped:
            skipped_rows.append((uri, skipped_reason(skipped)))
        n_reused = the_plan.by_input.get((i, REUSED), 0)
        per_input.append(outputs.InputCounts(uri, listed, n_reused + item.n_features, item.n_errors + skipped,
                                             item.n_skipped + skipped))
    if skipped_rows:
        write(spark.createDataFrame(skipped_rows, "path string, reason string").write.mode("append"), "parquet",
              uris[outputs.ERRORS])
    result = FeaturizeResult(
        n_input=discovered.n_input,
        n_features=sum(item.n_features for item in per_input),
        n_errors=sum(item.n_errors for item in per_input),
        counters=counters,
        per_input=tuple(per_input),
    )
    if result.n_input != result.n_features + result.n_errors:
        raise PipelineError(f"accounting broke: {result.n_input} inputs != {result.n_features} features + "
                            f"{result.n_errors} errors")
    if result.n_features < 2:
        raise NoImagesError(f"only {result.n_features} of {result.n_input} images could be decoded, PCA needs at "
                            f"least 2; the reasons are in {uris[outputs.ERRORS]}")
    info = outputs.IncrementalInfo("incremental", None, reused=c[REUSED], new=c[NEW], changed=c[CHANGED],
                                   retried=c[RETRIED], removed=c[REMOVED],
                                   previous_started_at=previous.manifest.started_at)
    return stages.Featurized(result, time.monotonic() - t0, moments), info, the_plan.seconds


def kept_moments(spark, previous: Previous, the_plan: Plan, features_uri: str, n_new: int) -> Moments | None:
    """The PCA moments of the new features/ when every row of the previous one is kept (nothing changed or
    removed): the previous run's moments (kept beside its features/) merged with those of the rows just
    featurized, read from the staged features/ before the reused rows are added (their moments taken on the
    driver up to fruits.spark.driver_pca.DRIVER_PCA_MAX_PHOTOS rows, by the executors beyond). The fit then reads no
    reused row: on the benchmark's 14,820 photos it read 14,820 rows to refit the PCA where 1,820 were new.
    `n_new`: the feature rows just written. None (the fit reads every row) when a previous row is dropped or the
    previous run left no usable moments."""
    if the_plan.dropped:
        log.info("%d photo(s) of the previous run changed or removed: the PCA reads every row", the_plan.dropped)
        return None
    uri = join(previous.output_uri, outputs.FEATURES, MOMENTS_FILE)
    try:
        before = moments_from_bytes(read_file(spark, uri), previous.manifest.feature_dim)
    except Exception as exc:  # noqa: BLE001 - none (a run made before they were kept), unreadable, other shape
        log.info("the previous run's PCA moments cannot be reused (%s): the PCA reads every row",
                 str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return None
    if before[0] != previous.manifest.n_features:
        log.info("the previous run's PCA moments count %d rows, its manifest %d: the PCA reads every row",
                 before[0], previous.manifest.n_features)
        return None
    log.info("PCA refitted from the previous run's moments (%d rows) and those of the %d photos featurized now",
             before[0], n_new)
    if not n_new:
        return before
    if fits_on_driver(n_new):
        # Few rows (1,820 on the benchmark: 9 MB): read on the driver (fruits.spark.driver_pca.features_table),
        # their moments taken with numpy. The executors' pass (a mapInPandas, then a d x d matrix per partition
        # collected and merged) took 2.1 s of the benchmark's incremental run for them.
        new_rows = collect_features(spark, features_uri, previous.manifest.feature_dim).features
        return merge_moments(before, array_moments(new_rows))
    # One partition per core at most: each partition sends a d x d matrix (13 MB) up the tree whatever its rows.
    new = read_features(spark, features_uri).coalesce(spark.sparkContext.defaultParallelism)
    return merge_moments(before, feature_moments(new, previous.manifest.feature_dim, merge_on_driver=True))


def add_reused_features(spark, previous: Previous, the_plan: Plan, features_uri: str) -> None:
    """Add the reused rows to the staged features/: when no photo of the previous run was changed or removed,
    every row of its features/ is reused, so on a local OUTPUT its Parquet files are linked in as they are
    (a hard link, or a copy of the bytes across devices): no Spark job decodes and re-encodes them. Parquet
    files are never rewritten in place, so the previous run keeps its files whole until the swap. Otherwise
    (and on S3 or HDFS, where a copy would stream through the driver) Spark copies the rows."""
    previous_features = join(previous.output_uri, outputs.FEATURES)
    if not the_plan.dropped and is_local(previous_features) and is_local(features_uri):
        link_files(local_path(previous_features), local_path(features_uri))
        return
    write(reused_features(spark, previous, the_plan).write.mode("append"), "parquet", features_uri)


def _is_data_file(name: str) -> bool:
    """A Parquet part file Spark wrote, or the checksum beside it (`.part-....crc`); not _SUCCESS."""
    return name.startswith("part-") or (name.startswith(".part-") and name.endswith(".crc"))


def link_files(source: str, target: str) -> None:
    """Hard-link (else copy) the part files of the local folder `source` into the folder `target`. Spark
    names every part file with its write's unique id, so none collides with the ones already in `target`."""
    os.makedirs(target, exist_ok=True)
    for name in sorted(filter(_is_data_file, os.listdir(source))):
        destination = os.path.join(target, name)
        if os.path.lexists(destination):
            raise PipelineError(f"cannot add the reused features: {destination} exists already")
        try:
            os.link(os.path.join(source, name), destination)
        except OSError:  # another device, or a file system without hard links
            shutil.copyfile(os.path.join(source, name), destination)


def reused_features(spark, previous: Previous, the_plan: Plan):
    """The previous run's feature rows of the reused photos, unchanged (the bytes of the floats are copied).

    Every photo with features in the previous run is reused, changed or removed now (new and retried ones had
    none), so the reused rows are the previous features minus the changed and removed paths: usually a few,
    sent to every task (a broadcast anti-join), or none at all. Either way the previous features keep the
    partitions a scan of their files gets (at least two per core), with no shuffle: a shuffle (the join this
    replaced) gathers them into the few partitions Spark's adaptive execution coalesces a shuffle to (one or
    two for 13,000 rows), and the PCA and the projection that read features/ next then ran on one core."""
    from pyspark.sql import functions as F

    features = read_features(spark, join(previous.output_uri, outputs.FEATURES))
    gone = the_plan.dropped
    if not gone:
        return features
    paths = the_plan.classified.filter(F.col("status").isin(CHANGED, REMOVED)).select("path")
    return features.join(F.broadcast(paths) if gone <= BROADCAST_PATHS else paths, "path", "left_anti")


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


def commit(spark, output_uri: str, manifest: outputs.Manifest) -> None:
    """Swap the staged folders in: manifest deleted first, new manifest written last (see the module doc)."""
    fs = HadoopFS(spark)
    staged = staging_uris(output_uri)
    fs.delete(join(output_uri, outputs.MANIFEST), recursive=False)
    for name in SWAPPED_DIRS:
        target = join(output_uri, name)
        fs.delete(target, recursive=True)
        if fs.exists(staged[name]):  # classifier/ is absent from a run of one label
            _rename(spark, staged[name], target)
    write_manifest(fs, output_uri, manifest)
    discard_staging(fs, output_uri)


def finish(spark, started: stages.Started, prepared: stages.Prepared, featurized: stages.Featurized,
           fitted: stages.Fitted, projected: stages.Projected, classified: stages.Classified | None,
           info: outputs.IncrementalInfo | None, plan_seconds: float | None) -> outputs.Manifest:
    """stages.finish for a run with --incremental: the manifest says what was reused; after an incremental
    run the staged folders are swapped in and the manifest written last."""
    timings = stages.stage_timings(started, prepared, featurized, fitted, projected, classified, plan_seconds)
    manifest = stages.build_manifest(spark, started, prepared, featurized, fitted, projected, timings,
                                     classified.info if classified is not None else None)
    manifest = dataclasses.replace(manifest, incremental=info)
    output = started.locations.output
    if started.uris[outputs.FEATURES] == join(output, outputs.FEATURES):
        write_manifest(HadoopFS(spark), output, manifest)
    else:
        t0 = time.monotonic()
        commit(spark, output, manifest)
        log.info("swapped the new outputs in (%.2f s)", time.monotonic() - t0)
    return manifest
