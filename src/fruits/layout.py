"""The dataset layout: a photo's label is its folder, its split the folder above when that is a split name.

Fruits-360 stores `Training/<class>/<photo>.jpg` and `Test/<class>/<photo>.jpg`. The Spark job derives the
same two columns with SQL expressions built from these constants (see `fruits.spark.discover`).
"""

from __future__ import annotations

SPLITS = ("Training", "Test")


def label_and_split(path: str) -> tuple[str | None, str | None]:
    """(label, split) of a photo path; split is None outside the Fruits-360 layout."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    label = parts[-2] if len(parts) >= 2 else None
    grandparent = parts[-3] if len(parts) >= 3 else None
    return label, grandparent if grandparent in SPLITS else None
