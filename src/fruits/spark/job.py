"""`fruits run`: the whole chain in one Spark application, step by step (see fruits.spark.steps).

discover (binaryFile) -> featurize (broadcast weights, pandas UDF) -> features/ + errors/ -> PCA fit once
-> pca/ + pca_csv/ + pca_model/ -> manifest.json, written last and only on success.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable

from .. import __version__, outputs
from . import incremental
from ..config import RunConfig
from ..errors import NoImagesError, PipelineError
from ..model import FEATURE_DIM
from ..storage import join
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
    write,
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
                   timings: dict[str, float]) -> outputs.Manifest:
    """What manifest.json says about a successful run (the readers rely on these fields)."""
    projection = fit.projection
    return outputs.Manifest(
        inputs=(outputs.InputCounts(input_uri, counts.n_input, counts.n_features, counts.n_errors),),
        output=output_uri,
        n_input=counts.n_input,
        n_features=counts.n_features,
        n_errors=counts.n_errors,
        labels=labels,
        k=projection.k,
        k_source=fit.k_source,
        variance_target=config.variance if config.k is None else None,
        cumulative_variance=projection.cumulative_variance,
        feature_dim=FEATURE_DIM,
        image_size=config.image_size,
        engine=config.engine,
        batch_size=model.spec.inference_batch_size,
        limits=outputs.Limits(max_bytes=config.max_bytes, max_pixels=config.max_pixels),
        weights=outputs.WeightsInfo(
            spec=config.weights,
            source=model.weights.source,
            sha256=model.weights.sha256,
            file_sha256=model.weights.file_sha256,
            broadcast_bytes=model.weights.nbytes,
            warning=model.weights.warning,
        ),
        featurize_counters=counts.counters,
        broadcast={"engine_payload_bytes": model.payload_bytes, "engine_payload_sha256": model.payload_sha256},
        versions=versions(),
        master=spark.sparkContext.master,
        started_at=started_at,
        finished_at=now(),
        timings_s={name: round(seconds, 3) for name, seconds in timings.items()},
    )


def _timed(function, *args):
    started = time.monotonic()
    return function(*args), time.monotonic() - started


def run_pipeline(config: RunConfig, spark, on_stage: Callable[[str], None] | None = None) -> outputs.Manifest:
    """Run the chain for `config` on `spark`; return the manifest that was written last to OUTPUT."""
    config = config.validated()
    stage = on_stage or (lambda message: log.info("%s", message))
    started_at = now()
    t_start = time.monotonic()
    fs = HadoopFS(spark)
    configure_session(spark, config)
    input_uri, output_uri = resolve_locations(spark, config)
    check_input(fs, input_uri)
    # --incremental: the previous run stays untouched (manifest included) until the new one is complete.
    previous, why_full = None, "--incremental not given"
    if config.incremental != "off":
        previous, why_full = incremental.find_previous(fs, output_uri, config)

    def full_run(reason: str) -> None:
        if config.incremental == "strict":
            raise incremental.NotReusableError(f"--incremental=strict: nothing in OUTPUT can be reused: {reason}")
        if config.incremental != "off":
            stage(f"--incremental: full run, nothing reused: {reason}")
        prepare_output(fs, output_uri, config.overwrite)
        incremental.discard_staging(fs, output_uri)

    if previous is None:
        full_run(why_full)
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
    if previous is not None:
        why_full = incremental.check_weights(previous, model.weights.sha256)
        if why_full:
            previous = None
            full_run(why_full)
    t_prepared = time.monotonic()

    if previous is None:
        stage(f"[2/5] featurizing {discovered.n_input} images (engine {config.engine}, {config.image_size}px)")
        incremental.write_input_index(discovered.files, uris[outputs.LISTING])
        counts = featurize_to_output(spark, discovered, model, config, uris)
        reuse = outputs.IncrementalInfo("full", why_full, new=counts.n_input)
    else:
        counts, reuse, uris = _featurize_incrementally(spark, config, discovered, model, previous, output_uri,
                                                       stage)
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
    if config.incremental != "off":
        manifest = dataclasses.replace(manifest, incremental=reuse)
    stage(f"[5/5] writing {join(output_uri, outputs.MANIFEST)}")
    if previous is None:
        write_manifest(fs, output_uri, manifest)
    else:
        t_commit = time.monotonic()
        incremental.commit(spark, fs, output_uri, manifest)
        log.info("swapped the new outputs in (%.2f s)", time.monotonic() - t_commit)
    return manifest


def _featurize_incrementally(spark, config: RunConfig, discovered, model: BroadcastModel,
                             previous: incremental.Previous, output_uri: str, stage):
    """Plan (join with the previous run), featurize what is new or changed into OUTPUT/_incremental/."""
    incremental.discard_staging(HadoopFS(spark), output_uri)
    staged = incremental.staging_uris(output_uri)
    the_plan = incremental.plan(spark, discovered.files, discovered.n_input, previous)
    try:
        c = the_plan.counts
        stage(f"[2/5] featurizing {len(the_plan.todo_paths) + len(the_plan.empty_paths)} of {discovered.n_input} "
              f"images: {c['new']} new, {c['changed']} changed, {c['retried']} retried (errors before); "
              f"{c['reused']} reused, {c['removed']} removed (engine {config.engine}, {config.image_size}px)")
        write(the_plan.index().write.mode("overwrite"), "parquet", staged[outputs.LISTING])
        result = incremental.featurize_plan(spark, the_plan, previous, model, config, staged)
    finally:
        the_plan.release()
    counts = FeaturizeResult(discovered.n_input, result.n_features, result.n_errors, result.counters)
    if counts.n_input != counts.n_features + counts.n_errors:
        raise PipelineError(f"accounting broke: {counts.n_input} inputs != {counts.n_features} features + "
                            f"{counts.n_errors} errors")
    if counts.n_features < 2:
        raise NoImagesError(f"only {counts.n_features} of {counts.n_input} images could be decoded, PCA needs at "
                            f"least 2; the reasons are in {staged[outputs.ERRORS]}")
    reuse = outputs.IncrementalInfo(
        "incremental", None, reused=c["reused"], new=c["new"], changed=c["changed"], retried=c["retried"],
        removed=c["removed"], previous_started_at=previous.manifest.started_at)
    return counts, reuse, {**output_uris(output_uri), **staged}
