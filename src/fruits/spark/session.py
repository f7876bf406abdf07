"""Spark session for the job: Arrow on, the venv's Python on the workers, quiet logs."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources

from .class_archive import finish_writing
from .class_archive import plan as plan_class_archive

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
    class_archive: str | None = None,
):
    """Create (or reuse) the SparkSession.

    In local mode the Python workers are started with this interpreter (`PYSPARK_PYTHON`): the system
    Python would not find pandas, pyarrow or this package. On a cluster the cluster's setting wins.
    With no master given, spark-submit's own `--master` is kept; outside spark-submit it is local[*].
    `class_archive`: a folder for the local JVM's class-data archive (fruits.spark.class_archive), used when
    this call starts the JVM in local mode and `conf` sets no `spark.driver.extraJavaOptions` of its own; stop
    such a session with `stop_session`, which finishes an archive this JVM writes.
    """
    from pyspark import SparkContext
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
        settings["spark.driver.extraJavaOptions"] += f" {LOCAL_JIT}"
        settings["spark.driver.memory"] = driver_memory
        # Running tasks report the photos they have read with each heartbeat: the progress bar's ticks.
        settings["spark.executor.heartbeatInterval"] = "2s"
    if packages:
        settings["spark.jars.packages"] = ",".join(packages)
    own_java_options = settings["spark.driver.extraJavaOptions"]
    settings.update(conf or {})
    archive = None
    if class_archive and wants_class_archive(local, SparkContext._gateway is not None, settings, own_java_options):
        archive = plan_class_archive(class_archive)
        if archive is not None:
            settings["spark.driver.extraJavaOptions"] = f"{own_java_options} {archive.java_options()}"
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
    if archive is not None and archive.writing:  # a reused session leaves a pending archive as it is
        global _writing_archive
        _writing_archive = archive
    return spark


# A local run's JVM compiles with the JIT's first tier only. Its life is a run of minutes on 2 to 8 cores, where the
# Python workers do the heavy work: the second tier's compiler threads took cores from them for code that ran too
# little to pay back (paired runs on 2 cores: a full run of 14,820 photos 0.90x the time, an incremental one of
# 1,820 new photos 0.82x; docs/performance.md, "The JVM's JIT in local mode"). A cluster's long-lived executors
# keep the JVM's default.
LOCAL_JIT = "-XX:TieredStopAtLevel=1"


def wants_class_archive(local: bool, jvm_running: bool, settings: Mapping[str, str], own_java_options: str) -> bool:
    """A class archive only for a local JVM this call starts (a running one keeps its options; on a cluster
    spark-submit starts the JVMs), and not when the caller set the driver's Java options: theirs win, whole."""
    return local and not jvm_running and settings.get("spark.driver.extraJavaOptions") == own_java_options


# The class archive the running local JVM writes when it exits (set by build_spark_session, finished by
# stop_session): one JVM per Python process, as pyspark has one gateway.
_writing_archive = None


def stop_session(spark) -> None:
    """spark.stop(); when this JVM writes the class archive, also end the JVM and put the archive in place (the
    next session starts a new JVM)."""
    from pyspark import SparkContext

    global _writing_archive
    spark.stop()
    archive, _writing_archive = _writing_archive, None
    gateway = SparkContext._gateway
    if archive is None or gateway is None or getattr(gateway, "proc", None) is None:
        return
    SparkContext._gateway, SparkContext._jvm = None, None
    finish_writing(archive, gateway)


def task_cpus(spark) -> int:
    """Cores one Spark task may use: the thread budget of one inference engine (no oversubscription)."""
    try:
        return max(1, int(spark.conf.get("spark.task.cpus", "1")))
    except ValueError:
        return 1
