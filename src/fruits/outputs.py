"""The layout of a `fruits run` OUTPUT, shared by the job that writes it and the readers (web, identify).

    OUTPUT/
      manifest.json   written last, only when the run succeeded
      features/       Parquet: path, label, split, features (array<float>, 1280)
      pca/            Parquet: path, label, split, pca (array<float>, k)
      pca_csv/        CSV with a header: path, label, split, pc_1 ... pc_k
      errors/         Parquet: path, reason
      pca_model/      Parquet, one row: k, dim, mean, components (k x d), explained_variance_ratio (d)
      inputs/         Parquet: path, length, modification_time of every photo listed (for --incremental)
      _fruits_output  marker: this folder belongs to fruits (a re-run may replace it)
"""

from __future__ import annotations

import json
from typing import Any

from .errors import RunOutputError

MANIFEST = "manifest.json"
MARKER = "_fruits_output"
FEATURES = "features"
PCA = "pca"
PCA_CSV = "pca_csv"
ERRORS = "errors"
PCA_MODEL = "pca_model"
INPUTS = "inputs"
RESULT_DIRS = (FEATURES, PCA, PCA_CSV, ERRORS, PCA_MODEL, INPUTS)
MANIFEST_VERSION = 1

REQUIRED_MANIFEST_KEYS = (
    "status",
    "n_input",
    "n_features",
    "n_errors",
    "k",
    "cumulative_variance",
    "image_size",
    "weights",
    "engine",
    "timings_s",
)


def parse_manifest(text: str | bytes, where: str = "manifest.json") -> dict[str, Any]:
    """Parse and sanity-check a manifest; RunOutputError when it is not one of a successful run."""
    try:
        manifest = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunOutputError(f"{where} is not valid JSON ({exc}); re-run `fruits run`") from None
    if not isinstance(manifest, dict):
        raise RunOutputError(f"{where} is not a fruits manifest; re-run `fruits run`")
    missing = [key for key in REQUIRED_MANIFEST_KEYS if key not in manifest]
    if missing:
        raise RunOutputError(f"{where} lacks {', '.join(missing)}: not a complete fruits run; re-run `fruits run`")
    if manifest.get("status") != "succeeded":
        raise RunOutputError(f"{where} says the run did not succeed; re-run `fruits run`")
    return manifest
