"""Discovery: the photos under INPUT as a DataFrame, read by Spark's `binaryFile` source on the executors."""

from __future__ import annotations

from ..layout import SPLITS

# Hadoop glob: .jpg .jpeg .png in any letter case. Other files are not even opened.
# Spark's file listing skips names starting with "_" or "." (its own metadata files), photos included.
IMAGE_GLOB = "*.{[jJ][pP][gG],[jJ][pP][eE][gG],[pP][nN][gG]}"


def _files(spark, input_uri: str):
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IMAGE_GLOB)
        .load(input_uri)
    )


def _layout_columns():
    """label = parent folder; split = grandparent folder when it is Training or Test (see fruits.layout)."""
    from pyspark.sql import functions as F

    parts = F.split(F.col("path"), "/")
    grandparent = F.element_at(parts, -3)
    return [
        "path",
        F.element_at(parts, -2).alias("label"),
        F.when(grandparent.isin(*SPLITS), grandparent).alias("split"),
        "length",
    ]


def list_images(spark, input_uri: str):
    """path, label, split, length of every image file; Spark does not read any content for this."""
    return _files(spark, input_uri).select(*_layout_columns())


def read_images(spark, input_uri: str, max_bytes: int):
    """The listing plus `content`, null for files over `max_bytes` (they become errors, not crashes)."""
    from pyspark.sql import functions as F

    content = F.when(F.col("length") <= F.lit(max_bytes), F.col("content")).alias("content")
    return _files(spark, input_uri).select(*_layout_columns(), content)
