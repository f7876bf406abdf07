"""Spark session for the job: Arrow on, the venv's Python on the workers, quiet logs."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources

log = logging.getLogger(__name__)


def _log4j_file() -> str:
    return str(resources.files("fruits.spark").joinpath("log4j2.properties"))


@contextmanager
def _local_jvm_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in the environment the local JVM is launched with (pyspark copies os.environ when it starts the
    gateway), unless already set; this process's own environment is restored afterwards."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def under_spark_submit() -> bool:
    """True when spark-submit started this Python (it then owns the master, e.g. yarn on EMR)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_spark_session(
    master: str | None = None,
    app_name: str = "fruits",
    conf: Mapping[str, str] | None = None,
    packages: tuple[str, ...] = (),
    driver_memory: str = "4g",
):
    """Create (or reuse) the SparkSession.

    In local mode the Python workers are started with this interpreter (`PYSPARK_PYTHON`): the system
    Python would not find pandas, pyarrow or this package. On a cluster the cluster's setting wins.
    With no master given, spark-submit's own `--master` is kept; outside spark-submit it is local[*].
    """
    from pyspark.sql import SparkSession

    if master is None and not under_spark_submit():
        master = "local[*]"
    local = bool(master and master.startswith("local"))
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # A long-lived Python worker keeps its model between tasks (see fruits.engines).
        "spark.python.worker.reuse": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_log4j_file()}",
    }
    if local:
        settings["spark.driver.memory"] = driver_memory
        # Running tasks report the photos they have read with each heartbeat: the progress bar's ticks.
        settings["spark.executor.heartbeatInterval"] = "2s"
    if packages:
        settings["spark.jars.packages"] = ",".join(packages)
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    # On a cluster Spark gives each executor OMP_NUM_THREADS = spark.task.cpus (SPARK-41188), so that native BLAS
    # (OpenBLAS: the classifier's L-BFGS, the PCA) runs one thread per task. In local mode the executors live in
    # this driver's JVM, launched with our environment: without the same setting, each of the concurrent tasks
    # starts one OpenBLAS thread per core and they fight for the cores.
    jvm_env = {"OMP_NUM_THREADS": settings.get("spark.task.cpus", "1")} if local else {}
    with _local_jvm_environment(jvm_env):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def task_cpus(spark) -> int:
    """Cores one Spark task may use: the thread budget of one inference engine (no oversubscription)."""
    try:
        return max(1, int(spark.conf.get("spark.task.cpus", "1")))
    except ValueError:
        return 1
