"""The last step of `fruits run`: a linear classifier on the frozen features' PCA coordinates, fitted by pyspark.ml.

Multinomial logistic regression (L-BFGS, L2 penalty on standardised coordinates) on the reference photos: the
labelled Training photos, or every labelled photo when the run has no split (the same references as the kNN,
fruits.classify.reference_mask). On shop photos it names the right kind of fruit more often than the kNN does
(benchmarks/identify_levers.py); the kNN still finds the similar photos. The fitted weights are a few hundred KB
of JSON at OUTPUT/classifier/model.json, applied in numpy by fruits.classify.LinearModel, so identify needs no
Spark. Runs with fewer than two labels have no classifier (nothing to tell apart); identify then uses the kNN.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack

import numpy as np

from ..classify import LinearModel
from ..layout import SPLITS
from ..outputs import CLASSIFIER_FILE, ClassifierInfo
from ..storage import join
from .hadoop_fs import HadoopFS

log = logging.getLogger("fruits")

TRAINING = SPLITS[0]
# A light L2 penalty on the standardised coordinates, set once before measuring (not tuned on the Test photos),
# and the optimiser's budget: the fit over both shared sets (125 labels, 424 components) converged in 56 rounds.
REGULARISATION = 1e-3
MAX_ITERATIONS = 100


def fit_classifier(spark, pca_uri: str, folder: str, fs: HadoopFS,
                   cleanup: ExitStack | None = None) -> ClassifierInfo | None:
    """Fit on pca/ and write `folder`/model.json (OUTPUT/classifier/, or its staged twin in an incremental run);
    returns what the manifest says about it (or None).

    The cached training rows are released before this returns; `cleanup` also holds them, so a failure or an
    interrupt half-way (the fit is the longest Spark job after the featurization) leaves nothing cached."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    started = time.monotonic()
    if fs.exists(folder):  # a classifier of an earlier run into this OUTPUT must not outlive it
        fs.delete(folder)
    coords = spark.read.parquet(pca_uri).where(F.col("label").isNotNull())
    if coords.where(F.col("split") == TRAINING).limit(1).count():
        coords = coords.where(F.col("split") == TRAINING)
    data = coords.select("label", array_to_vector("pca").alias("x"))
    indexer = StringIndexer(inputCol="label", outputCol="y", stringOrderType="alphabetAsc").fit(data)
    classes = tuple(indexer.labels)
    if len(classes) < 2:
        log.info("no classifier: the run has %d label(s)", len(classes))
        return None
    rows = indexer.transform(data).cache()
    if cleanup is not None:
        cleanup.callback(rows.unpersist)
    try:
        fitted = LogisticRegression(featuresCol="x", labelCol="y", family="multinomial", regParam=REGULARISATION,
                                    elasticNetParam=0.0, standardization=True, maxIter=MAX_ITERATIONS,
                                    tol=1e-6).fit(rows)
        n_rows = rows.count()
    finally:
        rows.unpersist()
    coefficients = fitted.coefficientMatrix.toArray()
    dim = coefficients.shape[1]
    seconds = time.monotonic() - started
    about = {"fitted_by": "pyspark.ml LogisticRegression (multinomial, L-BFGS)", "regularisation": REGULARISATION,
             "max_iterations": MAX_ITERATIONS, "iterations": int(fitted.summary.totalIterations),
             "n_references": int(n_rows), "seconds": round(seconds, 3)}
    # pyspark.ml standardises internally and returns coefficients on the original scale: mean 0, scale 1.
    model = LinearModel(classes, np.zeros(dim), np.ones(dim), coefficients, fitted.interceptVector.toArray(), about)
    fs.write_bytes(join(folder, "model.json"), (json.dumps(model.to_dict()) + "\n").encode())
    log.info("classifier: %d labels from %d photos in %.1f s (%d iterations)", len(classes), n_rows, seconds,
             about["iterations"])
    return ClassifierInfo(file=CLASSIFIER_FILE, labels=len(classes), **about)

