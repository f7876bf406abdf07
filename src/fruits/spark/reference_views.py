"""Reference views: the crops identify looks at, of the reference photos of chosen inputs, as more rows of the fit.

Identify asks the classifier about the whole photo and two crops of it (fruits.views); a classifier fitted on whole
photos only has never seen a crop of a shop shelf. With `fruits run --reference-views INPUT`, the labelled Training
photos of INPUT (every labelled photo of it when the run has no split) are read again, cut into the same crops
(views 1 to IDENTIFY_VIEWS - 1), mirrored with the whole photo (fruits.extract.views_per_photo says why), run
through the broadcast model on the executors and projected with the run's PCA there, and the classifier is fitted on
pca/'s rows plus these (fruits.spark.classifier). They are not written to pca/: the PCA, the kNN, the map and
`fruits evaluate` see whole photos only. A view is one more row of its photo's input and label, so under the input
weighting the input keeps its total weight, shared by its photos and their views. Chosen by cross-validation on the
grocery Training photos (docs/identify.md, "Reference views").

Cost: 2 x IDENTIFY_VIEWS - 1 more inferences per such photo, every run (an incremental run computes them again: they
are not kept).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pandas as pd  # pandas UDF type hints are resolved from module globals

from ..engines import EngineSpec, load_predictor
from ..extract import extract_view_features, views_per_photo
from ..images import ImageLimits
from ..layout import SPLITS
from ..pca_math import Projection
from ..views import IDENTIFY_VIEWS
from .discover import readable_photos
from .steps import BroadcastModel, Discovered

log = logging.getLogger("fruits")

TRAINING = SPLITS[0]
# The whole photo and the crops identify looks at (views 1..REFERENCE_VIEWS - 1 join the fit). Why not all five
# crops of fruits.views: with the five in the fit, cross-validation on the grocery Training photos gains 0.5 point
# of kind top-1 (97.5% against 97.0%), but on the Test photos it names the kind first for one photo fewer (78.4%
# against 79.3%), gives a keyboard an "orange" score of 0.85 instead of 0.45 (kept "not sure" by its familiarity
# alone) and costs 2.5 times the crops (docs/identify.md, "Photos taken in shops"): not taken.
REFERENCE_VIEWS = IDENTIFY_VIEWS
VIEWS_SCHEMA = "array<array<float>>"


@dataclass(frozen=True)
class ReferenceViews:
    """The view rows (path, label, split, pca: the photo's own path, label and split), not computed yet: the
    classify stage reads them once, with pca/."""

    rows: object  # a pyspark DataFrame
    photos: Discovered  # the listing of the INPUTs whose photos bring their views
    views_per_photo: int

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.photos.input_uris

    @property
    def most_rows(self) -> int:
        """Photos listed under those INPUTs x views_per_photo: where the fit runs is decided on it."""
        return self.photos.n_input * self.views_per_photo


def make_views_udf(spec: EngineSpec, payload_broadcast, limits: ImageLimits, views: int, projection_broadcast):
    """A pandas UDF: Series of image bytes -> the PCA coordinates of the photo's views_per_photo(views) views (the
    crops, views 1..`views` - 1, then the mirrored ones), or null when the photo cannot be decoded (featurize
    recorded it in errors/ already)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(VIEWS_SCHEMA)
    def view_coordinates(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        predictor = load_predictor(spec, lambda: payload_broadcast.value)  # the featurize stage's, when cached
        mean, components = projection_broadcast.value
        for contents in batches:
            result = extract_view_features(list(contents), predictor, spec.image_size, views, limits,
                                           spec.inference_batch_size)
            yield pd.Series([None if crops is None else list(((crops - mean) @ components).astype(np.float32))
                             for crops in result.features], index=contents.index)

    # Nondeterministic for the optimiser: the explode that follows makes Spark infer a filter on the UDF's result
    # (not null, not empty) and push it below the projection, which evaluates the UDF twice: every crop through the
    # model twice, in two Python workers per task.
    return view_coordinates.asNondeterministic()


def reference_view_rows(spark, photos: Discovered, model: BroadcastModel, projection: Projection,
                        limits: ImageLimits, max_bytes: int, cleanup: ExitStack,
                        views: int = REFERENCE_VIEWS) -> ReferenceViews:
    """The views of the labelled reference photos of the INPUTs listed in `photos` (lazy: nothing runs here).
    The projection is broadcast (a d x k matrix) and released by `cleanup`."""
    from pyspark.sql import functions as F

    broadcast = spark.sparkContext.broadcast((projection.mean.astype(np.float64),
                                              projection.components.astype(np.float64)))
    cleanup.callback(broadcast.destroy)
    udf = make_views_udf(model.spec, model.broadcast, limits, views, broadcast)
    parts = []
    for files in photos.files:
        references = readable_photos(files, max_bytes).where(
            F.col("label").isNotNull() & (F.col("split").isNull() | (F.col("split") == TRAINING)))
        parts.append(references.select("path", "label", "split", udf(F.col("content")).alias("views")))
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    rows = rows.select("path", "label", "split", F.explode("views").alias("pca"))  # no row for an undecodable photo
    log.debug("reference views of %s", ", ".join(photos.input_uris))
    return ReferenceViews(rows, photos, views_per_photo(views))
