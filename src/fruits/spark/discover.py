"""Discovery: the photos under INPUT as a DataFrame, read by Spark's `binaryFile` source on the executors.

The folder is listed once (`load_files`); the listing, the content and the skipped-file check all reuse
that one relation, so a bucket with millions of photos is not listed three times.
"""

from __future__ import annotations

from urllib.parse import unquote

from ..layout import SPLITS

# Hadoop glob: .jpg .jpeg .png in any letter case. Other files are not even opened.
# Spark's file listing skips names starting with "_" or "." (its own metadata files), photos included.
IMAGE_GLOB = "*.{[jJ][pP][gG],[jJ][pP][eE][gG],[pP][nN][gG]}"

EMPTY_FILE_REASON = "empty file (0 bytes)"


def load_files(spark, input_uri: str):
    """The binaryFile relation of every image file under INPUT (listed now, content read lazily)."""
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


def listing(files):
    """path, label, split, length; Spark reads no content for this."""
    return files.select(*_layout_columns())


def with_content(files, max_bytes: int):
    """The listing plus `content`, null for files over `max_bytes` (they become errors, not crashes)."""
    from pyspark.sql import functions as F

    content = F.when(F.col("length") <= F.lit(max_bytes), F.col("content")).alias("content")
    return files.select(*_layout_columns(), content)


def count_listed(files) -> int:
    """Files in the relation's index, zero-byte ones included (one JVM call, no path crosses to Python)."""
    return len(files._jdf.inputFiles())


def skipped_files(spark, files) -> list[str]:
    """Paths the index lists but the scan never yields: Spark drops zero-byte files from file scans.

    Called only when the counts differ. The listing stays in the JVM (an array literal exploded into rows,
    no per-path round trip through Python), the set difference runs in Spark, and only the (few) skipped
    paths reach the driver. `inputFiles` and `input_file_name()` both give URL-encoded URIs, the `path`
    column holds the decoded Hadoop path, so the skipped URIs are percent-decoded to match it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.column import Column

    listed_literal = spark.sparkContext._jvm.org.apache.spark.sql.functions.lit(files._jdf.inputFiles())
    listed = spark.range(1).select(F.explode(Column(listed_literal)).alias("uri"))
    scanned = files.select(F.input_file_name().alias("uri"))
    missing = listed.join(scanned, "uri", "left_anti")
    return sorted(unquote(row["uri"]) for row in missing.collect())
