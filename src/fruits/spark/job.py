"""`fruits run`: the whole chain in one Spark application, as an explicit sequence of stages
(fruits.spark.stages), with everything the stages hold released on success and on failure.

start -> prepare (broadcast weights, list photos) -> featurize (features/ + errors/) -> fit (PCA once)
-> project (pca/ + pca_csv/ + pca_model/) -> classify (classifier/: logistic regression, on the driver or
with pyspark.ml)
-> finish (manifest.json, written last and only on success).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack

from .. import outputs
from ..config import RunConfig
from ..storage import join
from . import incremental, stages
from .progress import Progress

log = logging.getLogger("fruits")


def run_pipeline(config: RunConfig, spark, on_stage: Callable[[str], None] | None = None,
                 on_progress: Progress | None = None) -> outputs.Manifest:
    """Run the chain for `config` on `spark`; return the manifest that was written last to OUTPUT.

    `on_stage` gets one line per stage (default: the "fruits" logger); `on_progress(done, total)` the photos
    featurized so far, every second (default: a log line every 15 s).
    Broadcasts and persisted DataFrames are released when this returns or raises: a reused session (a
    notebook, the tests, a long-lived driver) keeps nothing from a run.
    """
    say = on_stage or (lambda message: log.info("%s", message))
    with ExitStack() as cleanup:
        # --incremental: a reusable previous run stays untouched (manifest included) until the new one is
        # complete, the new folders are staged (fruits.spark.incremental).
        started, previous, why_full = incremental.start(spark, config, cleanup)
        config, locations = started.config, started.locations
        say(f"[1/6] loading weights ({locations.weights}) and listing " + ", ".join(locations.inputs))
        prepared = stages.prepare(spark, started, cleanup)
        if previous is not None:
            why_full = incremental.check_weights(previous, prepared.model.weights.sha256)
            if why_full:
                previous, started = None, incremental.fall_back(spark, started, why_full)
        reuse, plan_seconds = None, None
        if config.incremental != "off" and previous is None:
            say(f"--incremental: full run, nothing reused: {why_full}")
            reuse = outputs.IncrementalInfo("full", why_full, new=prepared.discovered.n_input)
        if previous is None:
            say(f"[2/6] featurizing {prepared.discovered.n_input} images (engine {config.engine}, "
                f"{config.image_size}px)")
            incremental.write_listing(started, prepared)
            featurized = stages.featurize(spark, started, prepared, cleanup, on_progress)
        else:
            say(f"[2/6] comparing {prepared.discovered.n_input} images with the previous run, featurizing the new "
                f"and changed ones (engine {config.engine}, {config.image_size}px)")
            featurized, reuse, plan_seconds = incremental.featurize(spark, started, prepared, previous, cleanup,
                                                                    on_progress)
            say(f"--incremental: {reuse.reused} reused, {reuse.new} new, {reuse.changed} changed, "
                f"{reuse.retried} retried, {reuse.removed} removed")
        say(f"[3/6] fitting PCA on {featurized.n_features} x {config.feature_dim} features")
        fitted = stages.fit(spark, started, featurized)
        say(f"[4/6] writing pca/, pca_csv/ and pca_model/ (k={fitted.projection.k}) under {locations.output}")
        projected = stages.project(spark, started, fitted, cleanup)
        views = stages.reference_views(spark, started, prepared, fitted, cleanup)
        with_views = "" if views is None else \
            f", with the views (crops, mirror images) of the photos of {', '.join(views.inputs)}"
        say(f"[5/6] fitting the linear classifier of identify on pca/ ({len(projected.labels)} labels{with_views})")
        classified = stages.classify(spark, started, projected, cleanup, views)
        say(f"[6/6] writing {join(locations.output, outputs.MANIFEST)}")
        if config.incremental == "off":
            return stages.finish(spark, started, prepared, featurized, fitted, projected, classified)
        return incremental.finish(spark, started, prepared, featurized, fitted, projected, classified, reuse,
                                  plan_seconds)
