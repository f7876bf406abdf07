"""PCA with pyspark.ml: centre, fit once over the whole spectrum, choose k, project on the executors.

Spark's PCA does not centre the data it projects, so a StandardScaler(withMean, no scaling) comes first.
The fit asks for all d components: Spark computes the d x d covariance and its full eigendecomposition on
the driver anyway (that cost grows with d^2, not with the number of images), so the whole
explained-variance spectrum comes for free and k is chosen from it without a second fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd  # noqa: F401 - pandas UDF type hints are resolved from module globals

from ..pca_math import Projection, choose_k


@dataclass(frozen=True)
class PcaFit:
    projection: Projection
    k_source: str  # "variance" (chosen from --variance) or "k" (given with --k)


def fit_pca(features_df, dim: int, variance: float, k: int | None = None) -> PcaFit:
    """Fit on a DataFrame with a `features` array<float> column (never collected to the driver)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import array_to_vector

    vectors = features_df.select(array_to_vector("features").alias("vector"))
    pipeline = Pipeline(
        stages=[
            StandardScaler(withMean=True, withStd=False, inputCol="vector", outputCol="centred"),
            PCA(k=dim, inputCol="centred", outputCol="components"),
        ]
    )
    model = pipeline.fit(vectors)
    scaler_model, pca_model = model.stages
    spectrum = np.asarray(pca_model.explainedVariance.toArray(), dtype=np.float64)
    chosen = k if k is not None else choose_k(spectrum, variance)
    components = np.asarray(pca_model.pc.toArray(), dtype=np.float64)[:, :chosen]
    mean = np.asarray(scaler_model.mean.toArray(), dtype=np.float64)
    projection = Projection(mean=mean, components=components, explained_variance_ratio=spectrum)
    return PcaFit(projection, "k" if k is not None else "variance")


def project(features_df, projection: Projection, spark):
    """path, label, split, pca (array<float>, k): (x - mean) @ components, computed by the executors.

    The projection (d x k doubles) is broadcast; each worker runs the same numpy code that `fruits identify`
    uses for a new photo.
    """
    from pyspark.sql.functions import pandas_udf

    broadcast = spark.sparkContext.broadcast(projection)

    @pandas_udf("array<float>")
    def to_pca(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        fitted = broadcast.value
        for features in batches:
            if len(features) == 0:
                yield pd.Series([], dtype=object)
                continue
            rows = fitted.project(np.stack(features.to_numpy())).astype(np.float32)
            yield pd.Series(list(rows))

    projected = features_df.select("path", "label", "split", to_pca("features").alias("pca"))
    return projected, broadcast


def projection_dataframe(spark, projection: Projection):
    """The fitted projection as a one-row DataFrame (d x k numbers: small, built on the driver)."""
    from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StructField, StructType

    record = projection.to_record()
    schema = StructType(
        [
            StructField("k", IntegerType(), False),
            StructField("dim", IntegerType(), False),
            StructField("mean", ArrayType(DoubleType()), False),
            StructField("components", ArrayType(ArrayType(DoubleType())), False),
            StructField("explained_variance_ratio", ArrayType(DoubleType()), False),
        ]
    )
    row = (record["k"], record["dim"], record["mean"], record["components"], record["explained_variance_ratio"])
    return spark.createDataFrame([row], schema)


def pca_csv_columns(k: int):
    """path, label, split, pc_1 ... pc_k: the matrix the business asked for, one column per component."""
    from pyspark.sql import functions as F

    return ["path", "label", "split"] + [F.col("pca")[i].alias(f"pc_{i + 1}") for i in range(k)]
