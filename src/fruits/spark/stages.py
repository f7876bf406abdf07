"""The stages of `fruits run`: one function each, each returning a typed result.

`fruits.spark.job.run_pipeline` calls them in this order; a notebook calls the very same functions, one per
cell, and sees every intermediate result:

    from contextlib import ExitStack
    from fruits.spark import stages

    cleanup = ExitStack()                                   # what the stages hold: broadcasts, cached frames
    started = stages.start(spark, config, cleanup)          # Started: locations made absolute, OUTPUT claimed
    prepared = stages.prepare(spark, started, cleanup)      # Prepared: weights broadcast, photos listed
    featurized = stages.featurize(spark, started, prepared, cleanup)   # Featurized: features/ + errors/
    fitted = stages.fit(spark, started, featurized)         # Fitted: the PCA (mean, components, spectrum)
    projected = stages.project(spark, started, fitted, cleanup)        # Projected: pca/, pca_csv/, pca_model/
    views = stages.reference_views(spark, started, prepared, fitted, cleanup)  # --reference-views, else None
    classified = stages.classify(spark, started, projected, cleanup, views)  # Classified: classifier/
    manifest = stages.finish(spark, started, prepared, featurized, fitted, projected, classified)  # last
    cleanup.close()                                         # also after a failure: nothing stays alive

Each stage registers what it holds on the Spark cluster (a broadcast, a persisted DataFrame) with `cleanup`
as soon as it exists, so `cleanup.close()` releases it whether the run succeeded or failed half-way.
Every result carries the wall-clock `seconds` the stage took.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from .. import __version__, outputs
from ..config import RunConfig
from ..errors import NoImagesError, PipelineError
from ..model import keras_version, tensorflow_version
from ..storage import join
from . import driver_pca
from .classifier import STANDARDIZATION_BY_LAYER, fit_classifier
from .driver_pca import Coordinates, collect_features, fits_on_driver
from .featurize import warm_up_workers
from .hadoop_fs import HadoopFS, write_file
from .pca import MOMENTS_FILE, Moments, PcaFit, fit_pca, moments_bytes
from .progress import Progress
from .reference_views import ReferenceViews, reference_view_rows
from .steps import (
    BroadcastModel,
    Discovered,
    FeaturizeResult,
    Locations,
    balanced_photo_splits,
    broadcast_model,
    check_inputs,
    configure_session,
    discover,
    featurize_to_output,
    output_uris,
    prepare_output,
    read_features,
    resolve_locations,
    write_manifest,
    write_pca_model,
    write_pca_outputs,
)

log = logging.getLogger("fruits")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Started:
    """The run's validated configuration and absolute locations; OUTPUT is ours and holds no manifest."""

    config: RunConfig
    locations: Locations
    uris: dict[str, str]  # features/, pca/, ... under OUTPUT
    started_at: str  # UTC, ISO 8601
    clock: float  # time.monotonic() when the run started
    seconds: float


@dataclass(frozen=True)
class Prepared:
    """The weights loaded once on the driver and broadcast, and the photos listed (nothing read yet)."""

    model: BroadcastModel
    discovered: Discovered
    discover_seconds: float  # the listing, which ran while the driver loaded the weights
    seconds: float


@dataclass(frozen=True)
class Featurized:
    """features/ and errors/ written; every listed file is a feature row or an error."""

    result: FeaturizeResult
    seconds: float
    # The PCA moments of every row of features/ when known without reading them (an incremental run that kept
    # every previous row: the previous run's moments merged with the new rows'), else None: the fit reads them.
    moments: Moments | None = None

    @property
    def n_features(self) -> int:
        return self.result.n_features


@dataclass(frozen=True)
class Fitted:
    fit: PcaFit
    seconds: float

    @property
    def projection(self):
        return self.fit.projection


@dataclass(frozen=True)
class Projected:
    """pca/, pca_csv/ and pca_model/ written; `labels` counts the featurized photos of each label, `k` is the
    width of pca/'s coordinates."""

    labels: dict[str, int]
    seconds: float
    k: int
    coordinates: Coordinates | None = None  # pca/ on the driver, when it was written from there


@dataclass(frozen=True)
class Classified:
    """classifier/model.json written (identify's linear model on the PCA coordinates); `info` is None for a run
    of fewer than two labels, which has no classifier."""

    info: outputs.ClassifierInfo | None
    seconds: float


def start(spark, config: RunConfig, cleanup: ExitStack) -> Started:
    """Validate `config`, make every location absolute, check the INPUTs and claim OUTPUT for this run
    (a local OUTPUT is locked until `cleanup` closes; its old manifest is removed).

    Cheap (no photo is read, no weight loaded); user mistakes (missing INPUT, INPUT given twice or nested,
    foreign OUTPUT, OUTPUT held by another run) fail here.
    """
    clock = time.monotonic()
    started_at = now()
    config = config.validated()
    fs = HadoopFS(spark)
    configure_session(spark, config)
    locations = resolve_locations(spark, config)
    check_inputs(fs, locations.inputs)
    prepare_output(fs, locations.output, config.overwrite, cleanup)
    return Started(config, locations, output_uris(locations.output), started_at, clock, time.monotonic() - clock)


def prepare(spark, started: Started, cleanup: ExitStack) -> Prepared:
    """Load the weights on the driver and broadcast them, while Spark lists the photos and starts its Python
    workers (all three are on the critical path of a cold run and need nothing from each other)."""
    t0 = time.monotonic()
    config = started.config
    warm_up = warm_up_workers(spark, config.engine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fruits-discover") as pool:
        listing = pool.submit(_timed, discover, spark, started.locations.inputs)
        model = broadcast_model(spark, config, HadoopFS(spark), started.locations.weights)
        cleanup.callback(model.destroy)
        discovered, discover_seconds = listing.result()
    warm_up.join()
    return Prepared(model, discovered, discover_seconds, time.monotonic() - t0)


def featurize(spark, started: Started, prepared: Prepared, cleanup: ExitStack,
              on_progress: Progress | None = None) -> Featurized:
    """Run the CNN on the executors: features/ for the photos, errors/ (path, reason) for every other file.

    `on_progress(done, total)` is called every second with the photos featurized so far (a progress bar)."""
    t0 = time.monotonic()
    result = featurize_to_output(spark, prepared.discovered, prepared.model, started.config, started.uris,
                                 cleanup, on_progress)
    if result.n_input != result.n_features + result.n_errors:
        raise PipelineError(f"accounting broke: {result.n_input} inputs != {result.n_features} features + "
                            f"{result.n_errors} errors")
    if result.n_features < 2:
        raise NoImagesError(
            f"only {result.n_features} of {result.n_input} images could be decoded, PCA needs at least 2; "
            f"the reasons are in {started.uris[outputs.ERRORS]}"
        )
    log.debug("featurized %d images, %d errors", result.n_features, result.n_errors)
    return Featurized(result, time.monotonic() - t0)


def fit(spark, started: Started, featurized: Featurized) -> Fitted:
    """Fit the PCA once on features/ (centred; k from --variance or --k). Only the d x d model reaches the
    driver. The moments of features/ are kept beside its files (MOMENTS_FILE), for the next incremental run."""
    t0 = time.monotonic()
    config = started.config
    features = read_features(spark, started.uris[outputs.FEATURES])
    fitted = fit_pca(features, config.feature_dim, config.variance, config.k, moments=featurized.moments)
    write_file(spark, join(started.uris[outputs.FEATURES], MOMENTS_FILE), moments_bytes(fitted.moments))
    if fitted.projection.k > featurized.n_features - 1:
        log.warning("k=%d is more than the %d components %d images can carry", fitted.projection.k,
                    featurized.n_features - 1, featurized.n_features)
    return Fitted(fitted, time.monotonic() - t0)


def project(spark, started: Started, fitted: Fitted, cleanup: ExitStack) -> Projected:
    """Project features/ and write pca/ and pca_csv/: from the driver up to DRIVER_PCA_MAX_PHOTOS photos
    (features/ read into one matrix, projected with numpy, written by pyarrow: fruits.spark.driver_pca), by
    the executors beyond (pca/, then pca_csv/ from it); then pca_model/."""
    t0 = time.monotonic()
    coordinates = None
    n_rows = fitted.fit.moments[0]
    if fits_on_driver(n_rows):
        matrix = collect_features(spark, started.uris[outputs.FEATURES], started.config.feature_dim)
        if len(matrix) != n_rows:
            raise PipelineError(f"accounting broke: {len(matrix)} rows in features/, the PCA was fitted on {n_rows}")
        labels, coordinates = driver_pca.write_pca_outputs(spark, matrix, fitted.projection, started.uris)
    else:
        features = read_features(spark, started.uris[outputs.FEATURES])
        labels = write_pca_outputs(spark, features, fitted.projection, started.uris, cleanup)
    write_pca_model(spark, fitted.projection, started.uris)
    return Projected(labels, time.monotonic() - t0, fitted.projection.k, coordinates)


def reference_views(spark, started: Started, prepared: Prepared, fitted: Fitted,
                    cleanup: ExitStack) -> ReferenceViews | None:
    """The crops identify looks at, of the reference photos of the INPUTs given with --reference-views, for the
    classify stage (fruits.spark.reference_views); None without the option. Lazy: classify computes them."""
    config = started.config
    if not config.reference_views:
        return None
    return reference_view_rows(spark, prepared.discovered.only(config.reference_view_indices), prepared.model,
                               fitted.projection, config.limits, config.max_bytes, cleanup)


def classify(spark, started: Started, projected: Projected, cleanup: ExitStack,
             views: ReferenceViews | None = None) -> Classified:
    """Fit identify's linear classifier on pca/ (on the driver, or with pyspark.ml when the references are too many:
    fruits.spark.classifier), with the reference `views` when given (the reference_views stage), and write
    classifier/model.json (a run of fewer than two labels gets none, and loses the one an earlier run left in
    OUTPUT)."""
    t0 = time.monotonic()
    config = started.config
    with ExitStack() as scan:
        if views is not None:  # the views' photos spread over every core
            scan.enter_context(balanced_photo_splits(spark, views.photos, config))
        info = fit_classifier(spark, started.uris[outputs.PCA], started.uris[outputs.CLASSIFIER], HadoopFS(spark),
                              cleanup, inputs=started.locations.inputs, dim=projected.k, labels=projected.labels,
                              coordinates=projected.coordinates,
                              standardization=STANDARDIZATION_BY_LAYER[config.feature_layer], views=views)
    return Classified(info, time.monotonic() - t0)


def finish(spark, started: Started, prepared: Prepared, featurized: Featurized, fitted: Fitted,
           projected: Projected, classified: Classified | None = None) -> outputs.Manifest:
    """Build the manifest of the run and write it, last: its presence says OUTPUT is complete.
    Without `classified` (the classify stage skipped) the manifest records no classifier."""
    timings = stage_timings(started, prepared, featurized, fitted, projected, classified)
    manifest = build_manifest(spark, started, prepared, featurized, fitted, projected, timings,
                              classified.info if classified is not None else None)
    write_manifest(HadoopFS(spark), started.locations.output, manifest)
    return manifest


def stage_timings(started: Started, prepared: Prepared, featurized: Featurized, fitted: Fitted,
                  projected: Projected, classified: Classified | None,
                  plan_seconds: float | None = None) -> dict[str, float]:
    """The manifest's timings_s, in stage order; `plan` only for an incremental run, `classifier` when fitted."""
    timings = {"discover": prepared.discover_seconds, "prepare": started.seconds + prepared.seconds}
    if plan_seconds is not None:
        timings["plan"] = plan_seconds
    timings.update(featurize=featurized.seconds, pca=fitted.seconds, write=projected.seconds)
    if classified is not None:
        timings["classifier"] = classified.seconds
    timings["total"] = time.monotonic() - started.clock
    return timings


def versions() -> dict[str, str]:
    import pyspark

    # From the packages' metadata: importing TensorFlow only to read its version cost the driver seconds.
    return {
        "fruits": __version__,
        "spark": pyspark.__version__,
        "tensorflow": tensorflow_version(),
        "keras": keras_version(),
        "python": platform.python_version(),
    }


def build_manifest(spark, started: Started, prepared: Prepared, featurized: Featurized, fitted: Fitted,
                   projected: Projected, timings: dict[str, float],
                   classifier: outputs.ClassifierInfo | None = None) -> outputs.Manifest:
    """What manifest.json says about a successful run (the readers rely on these fields)."""
    config, model, counts, projection = started.config, prepared.model, featurized.result, fitted.projection
    return outputs.Manifest(
        inputs=counts.per_input,
        output=started.locations.output,
        n_input=counts.n_input,
        n_features=counts.n_features,
        n_errors=counts.n_errors,
        labels=projected.labels,
        k=projection.k,
        k_source=fitted.fit.k_source,
        variance_target=config.variance if config.k is None else None,
        cumulative_variance=projection.cumulative_variance,
        feature_dim=config.feature_dim,
        feature_layer=config.feature_layer,
        image_size=config.image_size,
        engine=config.engine,
        batch_size=model.spec.inference_batch_size,
        limits=outputs.Limits(max_bytes=config.max_bytes, max_pixels=config.max_pixels),
        weights=outputs.WeightsInfo(
            spec=started.locations.weights,
            source=model.weights.source,
            sha256=model.weights.sha256,
            file_sha256=model.weights.file_sha256,
            broadcast_bytes=model.weights.nbytes,
            warning=model.weights.warning,
        ),
        featurize_counters=counts.counters,
        broadcast={"engine_payload_bytes": model.payload_bytes, "engine_payload_sha256": model.payload_sha256},
        versions=versions(),
        classifier=classifier,
        master=spark.sparkContext.master,
        started_at=started.started_at,
        finished_at=now(),
        timings_s={name: round(seconds, 3) for name, seconds in timings.items()},
    )


def _timed(function, *args):
    t0 = time.monotonic()
    return function(*args), time.monotonic() - t0
