"""The plan of an incremental run: which photo listed now is new, changed, retried or reused, and which photo of the
previous run was removed (fruits.spark.incremental says why path + size + modification time).

Two ways to the same Plan, chosen by the number of photos:

- `plan_on_driver`, up to DRIVER_PLAN_MAX_PHOTOS photos listed now and in the previous run: three plain scans
  (the listing of INPUT, the previous listing/ and the paths of the previous features/) collected through Arrow
  and compared with pandas. The Spark plan's joins and aggregates were the first ones of the run's JVM: about
  6 s of the incremental benchmark's 14,820 photos, where the three scans and the comparison take about 3 s.
- `plan_in_spark`, beyond it: the same comparison as joins on the executors, in one Spark action, so that no
  listing of millions of photos has to fit in the driver's Python process (Spark's own listing holds the file
  statuses in the driver's JVM anyway, but not three copies of them as Python objects).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import outputs
from ..storage import join
from .driver_pca import features_table
from .hadoop_fs import parquet_bytes, write_folder
from .steps import Discovered, read_features, write

# Per photo of a run: path, length (bytes), modification_time (timestamp); what the next run compares with.
LISTING = outputs.LISTING
LISTING_SCHEMA = "path string, length long, modification_time timestamp"
NEW, CHANGED, RETRIED, REUSED, REMOVED = "new", "changed", "retried", "reused", "removed"
LISTED_STATUSES = (REUSED, NEW, CHANGED, RETRIED)
TO_FEATURIZE = (NEW, CHANGED, RETRIED)
# Photos listed now plus photos of the previous run up to which the plan is made on the driver: three columns of
# this many rows as pandas frames, ~100 bytes a path, a few hundred MB at most.
DRIVER_PLAN_MAX_PHOTOS = 500_000
CLASSIFIED_SCHEMA = "path string, length long, modification_time timestamp, input int, status string"


@dataclass
class Plan:
    classified: object  # DataFrame path, length, modification_time, input, status (persisted or local)
    counts: dict[str, int] = field(default_factory=dict)
    by_input: dict[tuple[int, str], int] = field(default_factory=dict)  # (INPUT index, status) -> photos
    todo: list[tuple[int, str]] = field(default_factory=list)  # (INPUT index, path) to featurize
    seconds: float = 0.0
    # The rows of `classified` as a pandas frame, when the plan was made on the driver (else None).
    local: object = None

    @property
    def dropped(self) -> int:
        """Photos of the previous run whose features are not kept (changed or removed)."""
        return self.counts[CHANGED] + self.counts[REMOVED]

    def index(self):
        """listing/ of this run: every photo listed now, with the length and time it was compared with."""
        from pyspark.sql import functions as F

        return self.classified.filter(F.col("status") != REMOVED).select("path", "length", "modification_time")

    def write_index(self, spark, uri: str) -> None:
        """Write `index()` to `uri` (listing/), replacing what is there: by pyarrow on the driver when the plan was
        made there (the Spark write of 14,820 local rows was a job and 0.8 s of the benchmark's run), else by
        Spark. The same Parquet columns either way; times as UTC microseconds, Spark's timestamps."""
        if self.local is None:
            write(self.index().write.mode("overwrite"), "parquet", uri)
            return
        import pyarrow as pa

        rows = self.local[self.local["status"] != REMOVED]
        # The session's time zone is UTC (fruits.spark.session): toPandas gave naive UTC times.
        times = rows["modification_time"].dt.tz_localize("UTC").astype("datetime64[us, UTC]")
        table = pa.table({"path": pa.array(rows["path"].tolist(), pa.string()),
                          "length": pa.array(rows["length"].astype("int64").to_numpy(), pa.int64()),
                          "modification_time": pa.array(times, pa.timestamp("us", tz="UTC"))})
        write_folder(spark, uri, [("part-00000.parquet", parquet_bytes(table))])

    def release(self) -> None:
        self.classified.unpersist()


def input_index(files):
    """path, length, modification_time of every photo Spark's scan yields (no photo is opened for this)."""
    from pyspark.sql import functions as F

    return files.select("path", "length", F.col("modificationTime").alias("modification_time"))


def listed_now(discovered: Discovered):
    """input_index of every INPUT, with the INPUT's index."""
    from pyspark.sql import functions as F

    frames = [input_index(files).withColumn("input", F.lit(i)) for i, files in enumerate(discovered.files)]
    listed = frames[0]
    for frame in frames[1:]:
        listed = listed.unionByName(frame)
    return listed


def previous_listing(spark, previous_uri: str):
    """The previous run's listing/, read with its known schema (inferring one is a job)."""
    return spark.read.schema(LISTING_SCHEMA).parquet(join(previous_uri, LISTING))


def plan(spark, discovered: Discovered, previous_uri: str, n_previous: int) -> Plan:
    """Compare the photos listed now with the previous run in `previous_uri` (`n_previous` photos listed)."""
    if discovered.n_input + n_previous <= DRIVER_PLAN_MAX_PHOTOS:
        return plan_on_driver(spark, discovered, previous_uri)
    return plan_in_spark(spark, discovered, previous_uri)


def plan_on_driver(spark, discovered: Discovered, previous_uri: str) -> Plan:
    """The plan from three scans collected through Arrow (no join nor aggregate in Spark; the previous features'
    paths read by pyarrow when OUTPUT is local: fruits.spark.driver_pca.features_table): see the module doc."""
    import numpy as np
    import pandas as pd

    t0 = time.monotonic()
    listed = listed_now(discovered).toPandas()
    before = previous_listing(spark, previous_uri).toPandas().rename(
        columns={"length": "length_before", "modification_time": "time_before"})
    featured = features_table(spark, join(previous_uri, outputs.FEATURES), ["path"]).column("path").to_pandas()
    compared = listed.merge(before, on="path", how="left", indicator="seen")
    known = (compared["seen"] == "both").to_numpy()
    same = (known & (compared["length"] == compared["length_before"]).to_numpy()
            & (compared["modification_time"] == compared["time_before"]).to_numpy())
    had_features = compared["path"].isin(featured).to_numpy()
    compared["status"] = np.select([~known, ~same, ~had_features], [NEW, CHANGED, RETRIED], default=REUSED)
    removed = before[~before["path"].isin(listed["path"])]
    by_input = {(int(i), str(status)): int(n)
                for (i, status), n in compared.groupby(["input", "status"]).size().items() if n}
    counts = {name: sum(n for (_, status), n in by_input.items() if status == name) for name in LISTED_STATUSES}
    counts[REMOVED] = len(removed)
    todo_rows = compared[compared["status"].isin(TO_FEATURIZE)]
    todo = list(zip(todo_rows["input"].astype(int).tolist(), todo_rows["path"].tolist()))
    # The same rows as the Spark plan's: the photos listed now, then the removed ones (listed nowhere: no length,
    # time nor INPUT).
    rows = compared[["path", "length", "modification_time", "input", "status"]].astype(
        {"length": "Int64", "input": "Int32"})
    if len(removed):
        gone = pd.DataFrame({"path": removed["path"].to_numpy(), "length": pd.array([None] * len(removed), "Int64"),
                             "modification_time": pd.NaT, "input": pd.array([None] * len(removed), "Int32"),
                             "status": REMOVED})
        rows = pd.concat([rows, gone.astype({"modification_time": rows["modification_time"].dtype})],
                         ignore_index=True)
    classified = spark.createDataFrame(rows, CLASSIFIED_SCHEMA)
    return Plan(classified, counts, by_input, todo, time.monotonic() - t0, rows)


def plan_in_spark(spark, discovered: Discovered, previous_uri: str) -> Plan:
    """Join the new listing with the previous run's listing/ and features/ (in Spark).

    One Spark action: the paths to featurize are collected while Spark's observed metrics count every
    (INPUT, status) pair on the way (a groupBy count was a shuffle and a job of its own, and with adaptive
    execution several). The previous folders are read with their known schemas (inferring one is a job)."""
    from pyspark import StorageLevel
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    t0 = time.monotonic()
    listed = listed_now(discovered)
    before = previous_listing(spark, previous_uri).select(
        "path", F.col("length").alias("length_before"), F.col("modification_time").alias("time_before"))
    featured = (read_features(spark, join(previous_uri, outputs.FEATURES)).select("path")
                .withColumn("had_features", F.lit(True)))
    known = before.join(featured, "path", "left").withColumn("known", F.lit(True))
    same = (F.col("length").eqNullSafe(F.col("length_before"))
            & F.col("modification_time").eqNullSafe(F.col("time_before")))
    status = (F.when(F.col("known").isNull(), NEW)
              .when(~same, CHANGED)
              .when(F.col("had_features").isNull(), RETRIED)
              .otherwise(REUSED))
    joined = listed.withColumn("listed", F.lit(True)).join(known, "path", "full_outer")
    classified = joined.select(
        "path", "length", "modification_time", "input",
        F.when(F.col("listed").isNull(), REMOVED).otherwise(status).alias("status"),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    pairs = [(i, name) for i in range(len(discovered.files)) for name in LISTED_STATUSES]
    counted = Observation("plan")
    metrics = [F.sum(F.when((F.col("input") == i) & (F.col("status") == name), 1).otherwise(0)).alias(f"{i}:{name}")
               for i, name in pairs]
    metrics.append(F.sum(F.when(F.col("status") == REMOVED, 1).otherwise(0)).alias(REMOVED))
    todo = (classified.observe(counted, *metrics)
            .filter(F.col("status").isin(*TO_FEATURIZE)).select("input", "path").collect())
    observed = counted.get
    by_input = {(i, name): int(observed[f"{i}:{name}"] or 0) for i, name in pairs}
    by_input = {key: count for key, count in by_input.items() if count}
    counts = {name: sum(count for (_, status_), count in by_input.items() if status_ == name)
              for name in LISTED_STATUSES}
    counts[REMOVED] = int(observed[REMOVED] or 0)
    return Plan(classified, counts, by_input, [(row["input"], row["path"]) for row in todo],
                time.monotonic() - t0)
