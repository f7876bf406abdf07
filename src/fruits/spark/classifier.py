"""The last step of `fruits run`: a linear classifier on the frozen features' PCA coordinates.

Multinomial logistic regression (L-BFGS, L2 penalty on standardised coordinates) on the reference photos: the
labelled Training photos, or every labelled photo when the run has no split (the same references as the kNN,
fruits.classify.reference_mask). On shop photos it names the right kind of fruit more often than the kNN does
(benchmarks/identify_levers.py); the kNN still finds the similar photos. The fitted weights are a few hundred KB
of JSON at OUTPUT/classifier/model.json, applied in numpy by fruits.classify.LinearModel, so identify needs no
Spark. Runs with fewer than two labels have no classifier (nothing to tell apart); identify then uses the kNN.

Where it is fitted: the labelled photos' coordinates are collected to the driver in one Spark job (or are there
already: fruits.spark.driver_pca) and fitted there by fruits.logistic (scipy's L-BFGS, pyspark.ml's objective) when
they hold at most DRIVER_FIT_MAX_VALUES values; larger ones are fitted by pyspark.ml's LogisticRegression on the
executors, whose rounds are Spark jobs (about half a second each here: 18 s of a 147 s run of 13,000 photos, where
the driver fits the same references in 4 s). On the driver, the inputs are named and the references weighted in
Python after the one collect: naming them on the executors first (a UDF pass, a cache and an aggregate) took four
jobs and 2.4 s of the incremental benchmark's 7.7 s classifier stage.

Inputs weigh the same (WEIGHTING = "input"): a photo's weight in the fit is inversely proportional to how many
reference photos its input holds (the input as `fruits evaluate` names it, fruits.evaluation.sources_of), so the
1,142 real-condition grocery photos are not drowned by 11,400 studio ones. Chosen by cross-validation on the grocery
Training photos, never on the Test photos identify is judged on (benchmarks/identify_cv.py). A run of one input
(or of one folder whose photos all sit under one first folder) is fitted unweighted, as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import numpy as np
import pandas as pd  # module level: the pandas UDF's type hints are resolved in this module's namespace

from .. import logistic
from ..classify import LinearModel, reference_mask
from ..evaluation import sources_of
from ..layout import SPLITS
from ..outputs import CLASSIFIER_FILE, ClassifierInfo
from ..storage import join
from .hadoop_fs import HadoopFS
from .reference_views import ReferenceViews
from .steps import PCA_SCHEMA

log = logging.getLogger("fruits")

TRAINING = SPLITS[0]
# A light L2 penalty on the standardised coordinates, set once before measuring (not tuned on the Test photos),
# and the optimiser's budget. Each L-BFGS round is one or two Spark jobs, the longest fixed cost of a run; on the
# 224 px run of both shared sets (125 labels) tolerance 1e-6 took 69 rounds, 1e-5 56, 1e-4 48 and 1e-3 34;
# identify's kind top-1 / top-3 on the grocery Test photos stayed 72.1% / 91.0% down to 1e-4 and lost 1.8 points
# of top-1 at 1e-3. On the 160 px run, 1e-4 took 49 rounds instead of 73 for the same top-1 (one photo less in
# the top 3, one more label right): docs/identify.md, benchmarks/refit_classifier.py --tolerance.
REGULARISATION = 1e-3
MAX_ITERATIONS = 100
TOLERANCE = 1e-4
# How the reference photos are weighted in the fit: "none" (each photo the same), "input" (each input the same
# total weight, see the module's docstring), "label" (each label the same total), "input-label" (each input the
# same total, shared evenly by its labels). Measured by benchmarks/identify_cv.py.
WEIGHTINGS = ("none", "input", "label", "input-label")
WEIGHTING = "input"
# Whether the L2 penalty acts on the coefficients of standardised coordinates (every PCA component the same
# scale) or of the coordinates as they are (the penalty then falls harder on the small-variance components), per
# feature layer (fruits.model.FEATURE_LAYERS). On the top layer, False wins in cross-validation (docs/identify.md,
# "More levers") but takes 86 L-BFGS rounds instead of 49 and, with the whole photo weighing half, gives keyboards
# a confident card: not set. On the bottleneck, standardised coordinates lose 2-3 points of cross-validation and
# 11 of kind top-1 on the shop Test photos (69.4% against 80.2%), with every no-fruit photo still "not sure"
# (docs/identify.md, "The backbone's layer"): the coordinates as they are.
STANDARDIZATION_BY_LAYER = {"top": True, "bottleneck": False}
STANDARDIZATION = STANDARDIZATION_BY_LAYER["top"]
# The driver fits when the labelled photos' coordinates and per-class scores hold at most this many values:
# n x (d + labels), 8 bytes each (n counts the Test photos too, collected and dropped), so a few arrays of at most
# 200 MB (10,000 photos of 100 labels at k = 347: 4.5 million), ~400 MB at the peak of the fit. On EMR the
# driver's Python process lives in the YARN container's memoryOverhead (2 GB, fruits.cloud.cluster), beside
# TensorFlow when the weights are loaded. Beyond it the references stay on the executors and pyspark.ml fits them.
DRIVER_FIT_MAX_VALUES = 25_000_000


def group_weights(counts: Mapping[tuple[str, str], int], weighting: str) -> dict[tuple[str, str], float]:
    """The weight of one photo of each (input, label) given how many reference photos each pair has; the weights
    average 1 over the photos, so the regularisation means the same as unweighted."""
    total = sum(counts.values())
    per_input: Counter = Counter()
    per_label: Counter = Counter()
    labels_of: dict[str, set] = {}
    for (source, label), n in counts.items():
        per_input[source] += n
        per_label[label] += n
        labels_of.setdefault(source, set()).add(label)
    weights = {}
    for (source, label), n in counts.items():
        if weighting == "input":
            weights[(source, label)] = total / (len(per_input) * per_input[source])
        elif weighting == "label":
            weights[(source, label)] = total / (len(per_label) * per_label[label])
        elif weighting == "input-label":
            weights[(source, label)] = total / (len(per_input) * len(labels_of[source]) * n)
        else:
            weights[(source, label)] = 1.0
    return weights


def named_sources(data, inputs: Sequence[str]):
    """`data` with a column `source`: the input of each photo, named on the executors by
    fruits.evaluation.sources_of from its path and the run's INPUT locations, exactly as `fruits evaluate` names it."""
    from pyspark.sql import functions as F

    roots = tuple(str(uri) for uri in inputs)

    @F.pandas_udf("string")
    def source(paths: pd.Series) -> pd.Series:
        return pd.Series(sources_of(paths.tolist(), roots), index=paths.index)

    return data.withColumn("source", source("path"))


def reference_counts(named) -> dict[tuple[str | None, str, str], int]:
    """Labelled photos per (split, input, label): one small aggregate, the only job before the fit."""
    return {(row["split"], row["source"], row["label"]): int(row["count"])
            for row in named.groupBy("split", "source", "label").count().collect()}


def references_of(counts: Mapping[tuple[str | None, str, str], int]) -> tuple[bool, dict[tuple[str, str], int]]:
    """(whether the references are the Training photos, reference photos per (input, label)): the kNN's rule,
    fruits.classify.reference_mask (the labelled Training photos, or every labelled photo when the run has no
    split), applied to the groups of photos instead of to the photos."""
    groups = list(counts)
    chosen = reference_mask(np.asarray([label for _, _, label in groups], dtype=object),
                            np.asarray([split for split, _, _ in groups], dtype=object))
    references: Counter = Counter()
    for (_, source, label), n, keep in zip(groups, counts.values(), chosen):
        if keep:
            references[(source, label)] += n
    return any(split == TRAINING for split, _, _ in groups), dict(references)


def per_input_of(counts: Mapping[tuple[str, str], int]) -> dict[str, int]:
    per_input: Counter = Counter()
    for (source, _), n in counts.items():
        per_input[source] += n
    return dict(per_input)


def with_weights(named, counts: Mapping[tuple[str, str], int], weighting: str, classes: Sequence[str]):
    """`named` with the class index `y` of its label (`classes` order, as StringIndexer's alphabetAsc) and the
    weight `w` of its (input, label), and without `source`. Literal maps, not joins: no Spark job of their own."""
    from pyspark.sql import functions as F

    index = F.create_map(*[F.lit(v) for i, label in enumerate(classes) for v in (label, float(i))])
    weights = F.create_map(*[F.lit(v) for (source, label), w in group_weights(counts, weighting).items()
                             for v in (f"{source}\x00{label}", float(w))])
    return (named.withColumn("y", index[F.col("label")])
            .withColumn("w", weights[F.concat_ws("\x00", "source", "label")])
            .drop("source"))


def fit_classifier(spark, pca_uri: str, folder: str, fs: HadoopFS, cleanup: ExitStack | None = None,
                   inputs: Sequence[str] = (), weighting: str = WEIGHTING,
                   regularisation: float = REGULARISATION, tolerance: float = TOLERANCE,
                   standardization: bool = STANDARDIZATION, dim: int | None = None,
                   labels: Mapping[str | None, int] | None = None,
                   driver_max_values: int = DRIVER_FIT_MAX_VALUES, coordinates=None,
                   views: ReferenceViews | None = None) -> ClassifierInfo | None:
    """Fit on pca/ and write `folder`/model.json (OUTPUT/classifier/, or its staged twin in an incremental run);
    returns what the manifest says about it (or None). `inputs` are the run's INPUT locations (for the input
    weighting; none given: one input); `dim` the width of pca/ (read from one row when not given); `labels` the
    photos of each label in pca/ (the project stage counted them; counted here when not given). `tolerance` is
    pyspark.ml's; the driver's fit converges further for free (fruits.logistic). `coordinates` (a
    fruits.spark.driver_pca.Coordinates) are pca/'s rows already on the driver: a fit there does not collect them.
    `views` (fruits.spark.reference_views) are more reference rows, computed here once, in the fit only.

    Where the fit runs is decided before any photo is read, from `labels`: every labelled photo with its
    per-class scores within `driver_max_values` values goes to the driver in one Spark job (Arrow), where the
    inputs are named, the references chosen and weighted, and the model fitted. Otherwise the references stay on
    the executors: they are named by input once (one pass of a UDF) and cached while one aggregate gives the
    labels, the splits and the weights, and pyspark.ml fits them; the cached rows are released before this
    returns, and `cleanup` also holds them, so a failure or an interrupt half-way leaves nothing cached."""
    from pyspark.sql import functions as F

    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}: one of {WEIGHTINGS}")
    started = time.monotonic()
    if fs.exists(folder):  # a classifier of an earlier run into this OUTPUT must not outlive it
        fs.delete(folder)
    # pca/'s schema is known (no inference job).
    coords = spark.read.schema(PCA_SCHEMA).parquet(pca_uri).where(F.col("label").isNotNull())
    if labels is None:
        labels = {row["label"]: int(row["count"]) for row in coords.groupBy("label").count().collect()}
    n_labelled = sum(n for label, n in labels.items() if label is not None)
    n_labels = sum(1 for label in labels if label is not None)
    if n_labels < 2:
        log.info("no classifier: the run has %d label(s)", n_labels)
        return None
    if dim is None:
        dim = len(coords.select("pca").first()["pca"])
    n_rows = n_labelled + (views.most_rows if views is not None else 0)
    view_rows = 0
    if n_rows * (dim + n_labels) <= driver_max_values:
        if coordinates is None:
            table = coords.select("path", "split", "label", "pca").toPandas()  # one Spark job, through Arrow
            labelled = (table["path"].tolist(), table["split"].tolist(), table["label"].tolist(),
                        table.pop("pca").to_numpy())
            del table
        else:
            keep = np.asarray([label is not None for label in coordinates.label], dtype=bool)
            labelled = (coordinates.path[keep].tolist(), coordinates.split[keep].tolist(),
                        coordinates.label[keep].tolist(), coordinates.pca[keep])
        if views is not None:
            t0 = time.monotonic()
            labelled = with_view_rows(labelled, views.rows.toPandas())  # one Spark job: the views' inferences
            view_rows = len(labelled[0]) - n_labelled
            log.info("reference views: %d crops and mirror images of the photos of %s in %.1f s", view_rows,
                     ", ".join(views.inputs), time.monotonic() - t0)
        fitted = fit_on_driver(*labelled, inputs, weighting, regularisation, standardization)
    else:
        rows = coords if views is None else coords.unionByName(views.rows)
        named = named_sources(rows, inputs).select("split", "source", "label", "pca").cache()
        if cleanup is not None:
            cleanup.callback(named.unpersist)
        try:
            if views is not None:
                view_rows = named.count() - n_labelled  # the views' inferences, once, into the cache
            fitted = fit_on_executors(named, weighting, regularisation, standardization, tolerance)
        finally:
            named.unpersist()
    if fitted is None:
        return None
    coefficients, intercepts, about = fitted
    seconds = time.monotonic() - started
    about.update({"regularisation": regularisation, "seconds": round(seconds, 3),
                  "standardization": bool(standardization)})
    if views is not None:
        about["reference_views"] = {"inputs": list(views.inputs), "views_per_photo": views.views_per_photo,
                                    "rows": int(view_rows)}
    # Coefficients on the coordinates' own scale (either fit standardises internally): mean 0, scale 1.
    model = LinearModel(about.pop("classes"), np.zeros(coefficients.shape[1]), np.ones(coefficients.shape[1]),
                        coefficients, intercepts, about)
    fs.write_bytes(join(folder, "model.json"), (json.dumps(model.to_dict()) + "\n").encode())
    log.info("classifier: %d labels from %d reference rows%s in %.1f s (%s, %d iterations, weighting %s)",
             len(model.classes), about["n_references"],
             f" ({view_rows} of them views of photos)" if views is not None else "", seconds, about["fitted_by"],
             about["iterations"], about["weighting"])
    return ClassifierInfo(file=CLASSIFIER_FILE, labels=len(model.classes), **about)


def with_view_rows(labelled: tuple, table: pd.DataFrame) -> tuple:
    """The labelled photos' (paths, splits, labels, coordinates) followed by the view rows of `table` (path,
    label, split, pca: each view carries its photo's path, so its input is named the same way)."""
    paths, splits, labels, pca = labelled
    matrix = np.stack(pca) if pca.dtype == object else pca
    extra = np.stack(table["pca"].to_numpy()).astype(matrix.dtype) if len(table) else matrix[:0]
    return (list(paths) + table["path"].tolist(), list(splits) + table["split"].tolist(),
            list(labels) + table["label"].tolist(), np.concatenate([matrix, extra]))


def chosen_references(counts: Mapping[tuple[str | None, str, str], int], weighting: str):
    """From the labelled photos per (split, input, label): (whether the references are the Training photos,
    reference photos per (input, label), the classes in order, the weighting in force), or None when the
    references hold fewer than two labels. One input weighs as if unweighted (or per label)."""
    training, references = references_of(counts)
    classes = tuple(sorted({label for _, label in references}))
    if len(classes) < 2:
        log.info("no classifier: the run's references have %d label(s)", len(classes))
        return None
    if weighting in ("input", "input-label") and len(per_input_of(references)) < 2:
        weighting = "label" if weighting == "input-label" else "none"
    return training, references, classes, weighting


def described(about: dict, classes: Sequence[str], references: Mapping[tuple[str, str], int], weighting: str) -> dict:
    """What both fits add to their own `about`: the classes (taken back out for the model), the references and
    the weighting."""
    return {**about, "classes": tuple(classes), "n_references": int(sum(references.values())),
            "weighting": weighting, "references_per_input": dict(sorted(per_input_of(references).items()))}


def fit_on_driver(paths: list[str], splits: list, labels: list[str], pca, inputs: Sequence[str], weighting: str,
                  regularisation: float, standardization: bool):
    """On the labelled photos' paths, splits, labels and coordinates (an (n, k) array, or n arrays of k): choose and
    weight the references here and fit with fruits.logistic: (coefficients, intercepts, about), or None."""
    sources = sources_of(paths, tuple(str(uri) for uri in inputs))
    chosen = chosen_references(Counter(zip(splits, sources, labels)), weighting)
    if chosen is None:
        return None
    _, references, classes, weighting = chosen
    keep = reference_mask(np.asarray(labels, dtype=object), np.asarray(splits, dtype=object))  # the kNN's rule
    x = np.stack(pca[keep]) if pca.dtype == object else pca[keep]  # (n, k) float32
    index = {label: i for i, label in enumerate(classes)}
    weight_of = group_weights(references, weighting)
    kept = np.flatnonzero(keep)
    y = np.asarray([index[labels[i]] for i in kept], dtype=np.int64)
    w = np.asarray([weight_of[(sources[i], labels[i])] for i in kept], dtype=np.float64)
    fit = logistic.fit_multinomial(x, y, w, len(classes), regularisation, standardization)
    about = {"fitted_by": "scipy L-BFGS on the driver (pyspark.ml LogisticRegression's objective)",
             "max_iterations": logistic.MAX_ITERATIONS, "tolerance": logistic.TOLERANCE,
             "iterations": fit.iterations}
    return fit.coefficients, fit.intercepts, described(about, classes, references, weighting)


def fit_on_executors(named, weighting: str, regularisation: float, standardization: bool, tolerance: float):
    """pyspark.ml's multinomial LogisticRegression on the references of `named` (split, source, label, pca, cached):
    (coefficients, intercepts, about), or None."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    chosen = chosen_references(reference_counts(named), weighting)
    if chosen is None:
        return None
    training, references, classes, weighting = chosen
    rows = with_weights(named.where(F.col("split") == TRAINING) if training else named, references, weighting,
                        classes).select("pca", "y", "w")
    fitted = LogisticRegression(featuresCol="x", labelCol="y", weightCol="w", family="multinomial",
                                regParam=regularisation, elasticNetParam=0.0, standardization=standardization,
                                maxIter=MAX_ITERATIONS, tol=tolerance).fit(
        rows.select(array_to_vector("pca").alias("x"), "y", "w"))
    about = {"fitted_by": "pyspark.ml LogisticRegression (multinomial, L-BFGS)", "max_iterations": MAX_ITERATIONS,
             "tolerance": tolerance, "iterations": int(fitted.summary.totalIterations)}
    return (fitted.coefficientMatrix.toArray(), fitted.interceptVector.toArray(),
            described(about, classes, references, weighting))
