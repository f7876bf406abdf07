"""PCA on the executors: centred moments per partition, one d x d eigendecomposition on the driver.

Each executor turns its features into (count, mean, centred scatter matrix) with numpy/BLAS, batch by Arrow
batch, merging them with the exact pairwise formula (Chan et al.); Spark combines the partitions' moments in
a tree (`treeReduce`), so the driver receives a few d x d matrices, never a row of data. The driver then runs
one symmetric eigendecomposition of the d x d covariance (numpy `eigh`): the whole explained-variance
spectrum, from which k is chosen without a second fit.

Why not `pyspark.ml.feature.PCA` (the first version, centred by a StandardScaler): it reads the features
twice (scaler, then PCA), turns every row into an ML vector, accumulates the Gram matrix one row at a time
(a rank-1 update per photo, in the JVM) and decomposes with an SVD on the driver; docs/performance.md gives
the two side by side (`python benchmarks/levers.py pca`). Both compute the same covariance and axes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd  # noqa: F401 - pandas UDF type hints are resolved from module globals

from ..pca_math import Projection, choose_k
from .hadoop_fs import parquet_bytes


Moments = tuple[int, np.ndarray, np.ndarray]  # (count, mean, centred scatter X_c^T X_c) of a set of rows
# Beside the Parquet files of features/, the moments of all its rows (a leading "_": Spark, pyarrow and pandas
# readers skip it). An incremental run that keeps every previous row merges them with the new rows' moments
# instead of reading every row again (fruits.spark.incremental).
MOMENTS_FILE = "_moments.npz"


@dataclass(frozen=True)
class PcaFit:
    projection: Projection
    k_source: str  # "variance" (chosen from --variance) or "k" (given with --k)
    moments: Moments | None = None  # of the rows fitted on


def fit_pca(features_df, dim: int, variance: float, k: int | None = None, moments: Moments | None = None) -> PcaFit:
    """Fit on a DataFrame with a `features` array<float> column (never collected to the driver), or on the
    `moments` of its rows when they are known already (then `features_df` is not read)."""
    count, mean, scatter = moments if moments is not None else feature_moments(features_df, dim)
    covariance = scatter / max(count - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)  # rounding can leave tiny negatives
    eigenvectors = eigenvectors[:, order]
    # The sign of an axis is arbitrary: the largest loading of each is made positive (scikit-learn's rule),
    # so two fits of the same features give the same projection.
    signs = np.sign(eigenvectors[np.abs(eigenvectors).argmax(axis=0), np.arange(dim)])
    eigenvectors = eigenvectors * np.where(signs == 0, 1.0, signs)
    total = eigenvalues.sum()
    spectrum = eigenvalues / total if total > 0 else np.zeros_like(eigenvalues)
    chosen = k if k is not None else choose_k(spectrum, variance)
    projection = Projection(mean=mean, components=eigenvectors[:, :chosen], explained_variance_ratio=spectrum)
    return PcaFit(projection, "k" if k is not None else "variance", (count, mean, scatter))


def merge_moments(a: Moments, b: Moments) -> Moments:
    """The moments of the union of two sets of rows (exact, Chan et al.); neither argument is changed."""
    return _merge_moments((a[0], a[1], a[2].copy()), b)


def moments_bytes(moments: Moments) -> bytes:
    count, mean, scatter = moments
    buffer = io.BytesIO()
    np.savez(buffer, count=np.int64(count), mean=mean.astype(np.float64), scatter=scatter.astype(np.float64))
    return buffer.getvalue()


def moments_from_bytes(data: bytes, dim: int) -> Moments:
    """ValueError unless `data` holds moments of `dim` features."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        count, mean, scatter = int(arrays["count"]), arrays["mean"], arrays["scatter"]
    if mean.shape != (dim,) or scatter.shape != (dim, dim) or count < 0:
        raise ValueError(f"moments of shape {mean.shape}, {scatter.shape}, not of {dim} features")
    return count, mean, scatter


def _merge_moments(a, b):
    """(count, mean, centred scatter) of two sets of rows -> that of their union (Chan, Golub, LeVeque)."""
    count_a, mean_a, scatter_a = a
    count_b, mean_b, scatter_b = b
    if count_a == 0:
        return b
    if count_b == 0:
        return a
    count = count_a + count_b
    delta = mean_b - mean_a
    scatter_a += scatter_b + np.outer(delta, delta) * (count_a * count_b / count)  # in place: a is ours
    return count, mean_a + delta * (count_b / count), scatter_a


def array_moments(x: np.ndarray, block: int = 16_384) -> Moments:
    """(count, mean, centred scatter) of the rows of `x`, in float64 a block of rows at a time: the arithmetic of
    the executors' batches, on the driver."""
    total = (0, np.zeros(x.shape[1]), np.zeros((x.shape[1], x.shape[1])))
    for start in range(0, len(x), block):
        rows = np.asarray(x[start:start + block], dtype=np.float64)
        mean = rows.mean(axis=0)
        centred = rows - mean
        total = _merge_moments(total, (len(rows), mean, centred.T @ centred))
    return total


def _partition_moments(dim: int):
    def moments(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        total = (0, np.zeros(dim), np.zeros((dim, dim)))
        for frame in batches:
            if len(frame) == 0:
                continue
            x = np.stack(frame["features"].to_numpy()).astype(np.float64)
            mean = x.mean(axis=0)
            centred = x - mean
            total = _merge_moments(total, (len(x), mean, centred.T @ centred))  # X^T X: one BLAS call
        yield pd.DataFrame({"n": [total[0]], "mean": [total[1].tobytes()], "scatter": [total[2].tobytes()]})

    return moments


def feature_moments(features_df, dim: int, merge_on_driver: bool = False) -> Moments:
    """(count, mean, centred scatter X_c^T X_c) of the `features` column, computed by the executors.

    The partitions' moments are merged on the executors in a tree, so the driver gets a few d x d matrices
    whatever the partitions; `merge_on_driver` (for a DataFrame of a few partitions) has the driver collect one
    per partition and merge them: the tree's Python stage starts Python workers of its own, about 2 s of a
    job of 3 on 1,820 rows."""
    def as_arrays(row):
        return (int(row["n"]), np.frombuffer(row["mean"], dtype=np.float64).copy(),
                np.frombuffer(row["scatter"], dtype=np.float64).reshape(dim, dim).copy())

    stats = features_df.select("features").mapInPandas(_partition_moments(dim), "n long, mean binary, scatter binary")
    if merge_on_driver:
        total = (0, np.zeros(dim), np.zeros((dim, dim)))
        for row in stats.collect():
            total = _merge_moments(total, as_arrays(row))
        return total
    return stats.rdd.map(as_arrays).treeReduce(_merge_moments, depth=2)


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


# pca_model/'s one file. Spark's own name pattern, so a listing of the folder looks like the others'.
PCA_MODEL_FILE = "part-00000.parquet"


def projection_parquet(projection: Projection) -> bytes:
    """The fitted projection as pca_model/'s one row of Parquet (k, dim, mean, components as k rows of d,
    explained_variance_ratio), built by pyarrow on the driver, where the projection already is.

    Written through Spark, the same row was pickled by Python, unpickled by the JVM and written by one task:
    about 3 s of the write stage for 1,280 x 359 numbers (docs/performance.md). pyarrow writes the same
    Parquet schema (a list of lists of doubles) in milliseconds; Spark and pyarrow read either."""
    import pyarrow as pa

    components = list_rows(projection.components.T.astype(np.float64))  # k rows of d values
    k = len(components)
    table = pa.table({
        "k": pa.array([k], pa.int32()),
        "dim": pa.array([projection.components.shape[0]], pa.int32()),
        "mean": pa.array([projection.mean.astype(np.float64)], pa.list_(pa.float64())),
        "components": pa.ListArray.from_arrays(pa.array([0, k], pa.int32()), components),
        "explained_variance_ratio": pa.array([projection.explained_variance_ratio.astype(np.float64)],
                                             pa.list_(pa.float64())),
    })
    return parquet_bytes(table)


def list_rows(matrix: np.ndarray):
    """The rows of an (n, k) array as a pyarrow list array of n lists of k values (its dtype), built on one
    contiguous buffer: no Python object per row or value."""
    import pyarrow as pa

    flat = np.ascontiguousarray(matrix)
    n, k = flat.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), pa.array(flat.ravel()))


def pca_csv_columns(k: int) -> list[str]:
    """path, label, split, pc_1 ... pc_k: the matrix the business asked for, one column per component, as SQL
    expressions for `DataFrame.selectExpr`: one call to the JVM for the k columns, where building k Column
    objects took two or three gateway calls each (2 s of the write stage at k = 359)."""
    return ["path", "label", "split"] + [f"pca[{i}] AS {name}" for i, name in enumerate(pca_csv_names(k)[3:])]


def pca_csv_names(k: int) -> list[str]:
    """pca_csv/'s header."""
    return ["path", "label", "split"] + [f"pc_{i + 1}" for i in range(k)]
