"""pca/ and pca_csv/ written from the driver, for a run whose features fit in its memory.

The PCA is fitted by the executors whatever the run's size (fruits.spark.pca: only d x d moments reach the
driver). Its outputs are another matter: up to DRIVER_PCA_MAX_PHOTOS featurized photos, features/ is read once
into one float32 matrix (by pyarrow when OUTPUT is local, through Spark's Arrow collect otherwise: no Python object
per row), projected with numpy (the code `fruits identify` runs on a new photo) and written by pyarrow as pca/
(Parquet) and pca_csv/ (CSV); the photos per label are counted there and the coordinates go to the classifier
without a second collect.

Why: on the incremental benchmark's 14,820 photos the executors took 13.4 s to write pca/ and pca_csv/ (Python
workers fed row by row through pandas Series, then the CSV's 5.3 million numbers formatted by the JVM); the
driver does the same in about 4 s (docs/performance.md). With Arrow batches instead of pandas Series the
executors still took 7.5 s. Beyond the limit the executors' path (fruits.spark.steps.write_pca_outputs) stays:
the features of millions of photos do not fit one machine. The outputs are the same either way: the same columns
and types, CSV quoted as RFC 4180, part files (here of at most PART_ROWS rows, so memory stays bounded).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import outputs
from ..errors import PipelineError
from ..pca_math import Projection
from ..storage import is_local, local_path
from .hadoop_fs import parquet_bytes, write_folder
from .pca import list_rows, pca_csv_names
from .steps import labels_in_order, read_features

# 100,000 photos x 1,280 float32 features: 512 MB on the driver (and their coordinates, 144 MB at k = 359).
DRIVER_PCA_MAX_PHOTOS = 100_000
# Rows per part file of pca/ and pca_csv/: ~60 MB of CSV at k = 359.
PART_ROWS = 16_384
# Rows projected at a time: the block is converted to float64 and centred, two copies of 40 MB at d = 1,280.
PROJECT_ROWS = 4_096


def _features_arrow_schema():
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("label", pa.string()), ("split", pa.string()),
                      ("features", pa.list_(pa.float32()))])


@dataclass(frozen=True)
class FeatureMatrix:
    """features/ on the driver: one row per featurized photo, in the order Spark read them."""

    path: np.ndarray  # object (str)
    label: np.ndarray  # object (str or None)
    split: np.ndarray  # object (str or None)
    features: np.ndarray  # (n, d) float32

    def __len__(self) -> int:
        return len(self.path)


@dataclass(frozen=True)
class Coordinates:
    """pca/ on the driver: the photos of a FeatureMatrix and their (n, k) float32 coordinates."""

    path: np.ndarray
    label: np.ndarray
    split: np.ndarray
    pca: np.ndarray  # (n, k) float32


def fits_on_driver(n_features: int) -> bool:
    """Whether the features of `n_features` photos are read on the driver (else the executors do the work)."""
    return n_features <= DRIVER_PCA_MAX_PHOTOS


def features_table(spark, uri: str, columns: Sequence[str]):
    """Columns of features/ at `uri` as one pyarrow Table. A local features/ is read by pyarrow (0.4 s for the
    benchmark's 14,820 rows, where Spark's collect through Arrow was a job of 2.1 s); any other (S3, HDFS) is
    collected from Spark through Arrow. pyarrow skips the files Spark and this package keep beside the Parquet
    files (`_SUCCESS`, `_moments.npz`, `.crc` checksums), as Spark does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if is_local(uri):
        return pq.read_table(local_path(uri), columns=list(columns))
    frame = read_features(spark, uri).select(*columns)
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    schema = _features_arrow_schema()  # pyspark 3.5: the same collect, as record batches
    return pa.Table.from_batches(frame._collect_as_arrow(), schema=pa.schema([schema.field(c) for c in columns]))


def collect_features(spark, uri: str, dim: int) -> FeatureMatrix:
    """features/ at `uri` on the driver (features_table), the features as one (n, dim) float32 matrix on the Arrow
    buffer (no copy per row)."""
    table = features_table(spark, uri, ("path", "label", "split", "features"))
    column = table.column("features").combine_chunks()
    if column.null_count or np.any(column.value_lengths().to_numpy(zero_copy_only=False) != dim):
        raise PipelineError(f"features/ holds rows that are not {dim} numbers")
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return FeatureMatrix(*(np.asarray(table.column(name).to_pylist(), dtype=object)
                           for name in ("path", "label", "split")), flat.reshape(len(column), dim))


def project_matrix(matrix: FeatureMatrix, projection: Projection) -> Coordinates:
    """(x - mean) @ components of every row, a block at a time, as float32 (pca/'s type)."""
    coordinates = np.empty((len(matrix), projection.k), dtype=np.float32)
    for start in range(0, len(matrix), PROJECT_ROWS):
        coordinates[start:start + PROJECT_ROWS] = projection.project(matrix.features[start:start + PROJECT_ROWS])
    return Coordinates(matrix.path, matrix.label, matrix.split, coordinates)


def write_pca_outputs(spark, matrix: FeatureMatrix, projection: Projection,
                      uris: dict[str, str]) -> tuple[dict[str, int], Coordinates]:
    """pca/ and pca_csv/ as part files written by pyarrow (through Hadoop for a remote OUTPUT), replacing what
    was there; returns the photos per label and the coordinates."""
    coordinates = project_matrix(matrix, projection)
    for name, suffix, encode in ((outputs.PCA, "parquet", pca_parquet), (outputs.PCA_CSV, "csv", pca_csv)):
        starts = range(0, max(len(matrix), 1), PART_ROWS)  # each part encoded only when it is written
        write_folder(spark, uris[name], ((f"part-{part:05d}.{suffix}", encode(coordinates, slice(at, at + PART_ROWS)))
                                         for part, at in enumerate(starts)))
    return labels_in_order(Counter(matrix.label.tolist()).items()), coordinates


def _columns(coordinates: Coordinates, rows: slice) -> dict:
    import pyarrow as pa

    return {name: pa.array(getattr(coordinates, name)[rows], pa.string()) for name in ("path", "label", "split")}


def pca_parquet(coordinates: Coordinates, rows: slice) -> bytes:
    """Rows of pca/: path, label, split, pca (a list of k float32), Spark's schema for it."""
    import pyarrow as pa

    return parquet_bytes(pa.table({**_columns(coordinates, rows), "pca": list_rows(coordinates.pca[rows])}))


def pca_csv(coordinates: Coordinates, rows: slice) -> bytes:
    """Rows of pca_csv/ with its header: path, label, split, pc_1 ... pc_k."""
    import pyarrow as pa
    import pyarrow.csv as csv

    block = np.asfortranarray(coordinates.pca[rows])  # one contiguous column per component
    columns = _columns(coordinates, rows)
    names = pca_csv_names(block.shape[1])
    columns.update((name, pa.array(block[:, i])) for i, name in enumerate(names[3:]))
    sink = pa.BufferOutputStream()
    csv.write_csv(pa.table(columns), sink)
    return sink.getvalue().to_pybytes()
