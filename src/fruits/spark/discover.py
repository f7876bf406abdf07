"""Discovery: the photos under INPUT as a DataFrame, read by Spark's `binaryFile` source on the executors.

The folder is listed once (`load_files`); the photos to read and the files too large to read both come from
that one relation, so a bucket with millions of photos is not listed twice.
"""

from __future__ import annotations

from ..layout import SPLITS

# Hadoop glob: .jpg .jpeg .png in any letter case. Other files are not even opened.
# Spark's file listing skips names starting with "_" or "." (its own metadata files), photos included.
IMAGE_GLOB = "*.{[jJ][pP][gG],[jJ][pP][eE][gG],[pP][nN][gG]}"


def load_files(spark, input_uri: str):
    """The binaryFile relation of every image file under INPUT (listed now, content read lazily)."""
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IMAGE_GLOB)
        # A photo deleted after the listing, or one that cannot be opened (permissions), is skipped rather
        # than failing the job; the job counts what the scan skipped (fruits.spark.steps).
        .option("ignoreMissingFiles", "true")
        .option("ignoreCorruptFiles", "true")
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


def readable_photos(files, max_bytes: int):
    """path, label, split, content of the files of at most `max_bytes`.

    The filter on `length` comes before `content` is selected: Spark's binaryFile source evaluates it on the
    listing's file status and never opens a larger file (a file over 2 GiB would otherwise fail the task)."""
    from pyspark.sql import functions as F

    return files.filter(F.col("length") <= F.lit(max_bytes)).select(*_layout_columns()[:3], "content")


def oversized_errors(files, max_bytes: int):
    """path, label, split, features (null), error for the files over `max_bytes`: content is never selected,
    so they are never read."""
    from pyspark.sql import functions as F

    reason = F.format_string(f"file of %d bytes is over the --max-bytes limit of {max_bytes} bytes: not read",
                             F.col("length"))
    return files.filter(F.col("length") > F.lit(max_bytes)).select(
        *_layout_columns()[:3], F.lit(None).cast("array<float>").alias("features"), reason.alias("error"))


def skipped_reason(count: int) -> str:
    return (f"{count} image file(s) listed under this INPUT were never read: empty (0 bytes), deleted after the "
            "listing, or not readable (permissions)")


def count_listed(files) -> int:
    """Files in the relation's index, zero-byte ones included (one JVM call, no path crosses to Python)."""
    return len(files._jdf.inputFiles())
