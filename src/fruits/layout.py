"""The dataset layout: a photo's label is its folder, its split the folder above when that is a split name.

Fruits-360 stores `Training/<class>/<photo>.jpg` and `Test/<class>/<photo>.jpg`. The Spark job derives the
two columns with SQL expressions built from these constants (`fruits.spark.discover.listing`).
"""

from __future__ import annotations

SPLITS = ("Training", "Test")
