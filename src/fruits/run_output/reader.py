"""Load a `fruits run` OUTPUT (local or s3://) for the dashboard, `fruits identify` and `fruits evaluate`.

Only what those need is read: the manifest, the fitted projection (pca_model/) and the PCA coordinates of every
image (pca/). The 1,280-float features/ table is never loaded. Every way an OUTPUT can be missing or
incomplete ends in a RunOutputError with one line saying what to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from .. import outputs, storage
from ..errors import RunOutputError
from ..layout import SPLITS
from ..pca_math import Projection
from .store import StorageError, Store

TRAINING, TEST = SPLITS


def image_id(path: str) -> str:
    """A short, stable id for a photo: the dashboard's URLs name images by id, never by path."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ImageTable:
    """The featurized images of a run, sorted by path. Row i of every array describes the same image."""

    ids: np.ndarray  # (n,) str
    paths: np.ndarray  # (n,) str, the URI Spark read the photo from
    labels: np.ndarray  # (n,) object: str or None
    splits: np.ndarray  # (n,) object: "Training", "Test" or None
    coords: np.ndarray  # (n, k) float64, PCA coordinates
    row_of: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class RunOutput:
    location: str
    manifest: outputs.Manifest
    projection: Projection
    images: ImageTable
    store: Store = field(repr=False)

    @property
    def has_test_split(self) -> bool:
        return bool(np.any(self.images.splits == TEST))

    def image_location(self, row: int) -> str:
        return str(self.images.paths[row])

    def read_image(self, row: int, max_bytes: int | None = None) -> bytes:
        """The photo's bytes, read by id-resolved row only (no request data ever becomes a path)."""
        return self.store.read_bytes(self.image_location(row), max_bytes)


def open_run_output(location: str, store: Store | None = None) -> RunOutput:
    """Check and load OUTPUT; RunOutputError (one line) when it is missing, incomplete or inconsistent."""
    store = store or Store()
    location = (location or "").strip()
    if not location:
        raise RunOutputError("OUTPUT is empty: give the folder or s3:// URI a `fruits run` wrote to")
    base = location.rstrip("/") if storage.scheme(location) else location
    kind = store.kind(base)
    if kind == "missing":
        raise RunOutputError(f"OUTPUT not found: {location} (give the folder or s3:// URI a `fruits run` wrote to)")
    if kind == "file":
        raise RunOutputError(f"OUTPUT {location} is a file: give the folder a `fruits run` wrote to")
    manifest_location = storage.join(base, outputs.MANIFEST)
    if store.kind(manifest_location) != "file":
        raise RunOutputError(
            f"{location} has no {outputs.MANIFEST}: not a finished `fruits run` OUTPUT (the run failed, is still "
            f"running or wrote elsewhere); run `fruits run INPUT {location}` first"
        )
    manifest = outputs.parse_manifest(store.read_bytes(manifest_location, max_bytes=16 * 1024 * 1024),
                                      where=manifest_location)
    projection = _load_projection(store, storage.join(base, outputs.PCA_MODEL))
    if projection.k != manifest.k:
        raise RunOutputError(
            f"{location}: pca_model/ has k={projection.k} but the manifest says k={manifest.k}; "
            "the OUTPUT mixes two runs, re-run `fruits run`"
        )
    images = _load_images(store, storage.join(base, outputs.PCA), projection.k)
    if len(images) != manifest.n_features:
        raise RunOutputError(
            f"{location}: pca/ holds {len(images)} images but the manifest says {manifest.n_features}; "
            "the OUTPUT is incomplete, re-run `fruits run`"
        )
    return RunOutput(location=location, manifest=manifest, projection=projection, images=images, store=store)


def _dataset_table(store: Store, location: str, columns: list[str], what: str) -> pa.Table:
    fs, path = store.resolve(location)
    try:
        # Spark's _SUCCESS and .crc side files start with "_" or ".", which pyarrow skips by default.
        dataset = pads.dataset(path, filesystem=fs, format="parquet")
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise RunOutputError(f"{location} lacks column(s) {', '.join(missing)}: {what} is not from a fruits run")
        return dataset.to_table(columns=columns)
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, StorageError):
            raise
        raise RunOutputError(
            f"cannot read {what} at {location} ({str(exc).splitlines()[0][:160]}); the OUTPUT is incomplete, "
            "re-run `fruits run`"
        ) from None


def _load_projection(store: Store, location: str) -> Projection:
    table = _dataset_table(store, location, ["k", "dim", "mean", "components", "explained_variance_ratio"],
                           "pca_model/")
    if table.num_rows != 1:
        raise RunOutputError(f"{location} holds {table.num_rows} rows, expected 1: re-run `fruits run`")
    try:
        return Projection.from_record(table.to_pylist()[0])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunOutputError(f"{location} is not a valid projection ({exc}): re-run `fruits run`") from None


def _load_images(store: Store, location: str, k: int) -> ImageTable:
    table = _dataset_table(store, location, ["path", "label", "split", "pca"], "pca/")
    if table.num_rows == 0:
        raise RunOutputError(f"{location} is empty: the OUTPUT is incomplete, re-run `fruits run`")
    table = table.sort_by("path")
    pca = table.column("pca").combine_chunks()
    lengths = pca.value_lengths().to_numpy(zero_copy_only=False)
    if pca.null_count or not np.all(lengths == k):
        raise RunOutputError(f"{location}: some rows do not hold {k} PCA coordinates; re-run `fruits run`")
    coords = pca.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, k)
    paths = np.asarray(table.column("path").to_pylist(), dtype=object)
    ids = np.asarray([image_id(p) for p in paths], dtype=object)
    row_of = {image: row for row, image in enumerate(ids)}
    if len(row_of) != len(ids):
        raise RunOutputError(f"{location} lists the same photo twice; re-run `fruits run`")
    return ImageTable(
        ids=ids,
        paths=paths,
        labels=np.asarray(table.column("label").to_pylist(), dtype=object),
        splits=np.asarray(table.column("split").to_pylist(), dtype=object),
        coords=coords,
        row_of=row_of,
    )
