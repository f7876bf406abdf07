"""The local JVM's class-data archive (Java's AppCDS): a `fruits run` that starts in seconds and runs warm.

Why: on a 2-core laptop a fresh `fruits run` spent ~11 s creating its SparkSession and ran every stage with a cold
JVM: each new code path (the first DataFrame, the Parquet writer, Arrow, pyspark.ml) first reads, parses and
verifies its classes from Spark's jars. An incremental run of 1,820 new photos took 105 s, of which the CNN is
~17 s (docs/performance.md, "The JVM's class archive").

How: Java 13+ can write every class a JVM loaded into an archive when it exits (`-XX:ArchiveClassesAtExit`) and
map that archive at the start of the next JVM (`-XX:SharedArchiveFile`) instead of loading them again. The first
local run that finds no archive for this Java and this Spark writes one (its JVM runs slower and takes tens of
seconds more to exit: once per machine and Spark installation); every later local run maps it. The archive is the
JVM's own cache of the jars it already reads (no data, no path of a photo): `$FRUITS_CACHE_DIR/jvm` (default
`~/.cache/fruits/jvm`), about 240 MB. `FRUITS_CLASS_ARCHIVE=off` neither uses nor writes one.

Safe by construction: the JVM checks the archive against its own build and class path when it maps it and, if
anything differs, runs without it (silently: the archive's own log lines are off); a JVM killed while writing
leaves a temporary file named after its process, removed by the next run, never the archive itself, which is
renamed into place only after its JVM exited cleanly. Only local mode: on a cluster spark-submit starts the JVMs.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

log = logging.getLogger("fruits")

ARCHIVE_ENV = "FRUITS_CLASS_ARCHIVE"
# The archive's own warnings (a class it skips, an archive made by another JVM build) must not reach the user's
# terminal: the JVM falls back to loading classes from the jars, which is all they would say.
QUIET = "-Xlog:cds*=off"
WRITE_TIMEOUT_S = 300
# Archives kept per cache folder: one per Java + Spark installation (each venv has its own Spark jars), the least
# recently used removed when a new one is written.
KEEP = 3


@dataclass(frozen=True)
class ClassArchive:
    """The archive of this Java + Spark: `path`, mapped by the JVM when it exists; else `writing` (a temporary
    file named after this process) is where the JVM writes it as it exits, to be renamed to `path`."""

    path: str
    writing: str | None = None

    def java_options(self) -> str:
        if self.writing is not None:
            return f"{QUIET} -XX:ArchiveClassesAtExit={self.writing}"
        return f"{QUIET} -XX:SharedArchiveFile={self.path}"


def enabled(environ=os.environ) -> bool:
    return environ.get(ARCHIVE_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def default_folder(environ=os.environ) -> str | None:
    """Where `fruits run` keeps its archives ($FRUITS_CACHE_DIR/jvm, ~/.cache/fruits/jvm), or None when
    FRUITS_CLASS_ARCHIVE switches them off."""
    from ..model import cache_dir

    return cache_dir("jvm") if enabled(environ) else None


def java_executable(environ=os.environ) -> str | None:
    """The java that Spark's launcher (bin/spark-class) runs: $JAVA_HOME/bin/java, else java on the PATH."""
    home = environ.get("JAVA_HOME")
    candidate = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return os.path.realpath(candidate) if candidate and os.path.exists(candidate) else None


def spark_jars() -> str:
    from pyspark.find_spark_home import _find_spark_home

    return os.path.realpath(os.path.join(_find_spark_home(), "jars"))


def archive_key(java: str, jars: str, spark_version: str) -> str:
    """Names the archive after what it depends on (the JVM also checks both when it maps it): another Java or
    another Spark (a new jar changes the folder's time) gets an archive of its own."""
    def stamp(path: str) -> list:
        status = os.stat(path)
        return [path, status.st_size, status.st_mtime_ns]

    text = json.dumps([stamp(java), stamp(jars), spark_version])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(folder: str) -> ClassArchive | None:
    """The archive this process's JVM maps or writes, or None (no java found: Spark will say so itself)."""
    import pyspark

    java = java_executable()
    if java is None:
        return None
    key = archive_key(java, spark_jars(), pyspark.__version__)
    path = os.path.join(folder, f"spark-{pyspark.__version__}-{key}.jsa")
    if os.path.isfile(path):
        try:
            os.utime(path)  # recently used: kept when a new archive is written (remove_unused)
        except OSError:
            pass
        return ClassArchive(path)
    try:
        os.makedirs(folder, exist_ok=True)
        remove_abandoned(folder)
    except OSError as exc:  # a read-only cache: run without an archive
        log.debug("no class archive: %s", exc)
        return None
    return ClassArchive(path, writing=f"{path}.{os.getpid()}.tmp")


def remove_abandoned(folder: str) -> None:
    """Temporary archives of JVMs that are gone (killed while writing, or their run failed): never complete."""
    for leftover in glob.glob(os.path.join(folder, "*.jsa.*.tmp")):
        pid = leftover.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.remove(leftover)
            except OSError:
                pass


def remove_unused(folder: str, keep: int = KEEP) -> None:
    """All but the `keep` most recently used archives (another venv's, or a Java or Spark since replaced)."""
    archives = sorted(glob.glob(os.path.join(folder, "*.jsa")), key=os.path.getmtime, reverse=True)
    for old in archives[keep:]:
        try:
            os.remove(old)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def finish_writing(archive: ClassArchive, gateway) -> None:
    """After the SparkSession stopped: end its JVM (pyspark's gateway exits when its stdin closes), which writes
    the archive as it exits, and rename the archive into place once the JVM has exited cleanly."""
    process = gateway.proc
    started = time.monotonic()
    log.info("writing the JVM's class archive for faster starts (once for this Java and Spark): %s", archive.path)
    try:
        gateway.shutdown()
    except Exception:  # noqa: BLE001 - a gateway already closed: the JVM still exits with its stdin
        pass
    if process.stdin is not None:
        process.stdin.close()
    try:
        code = process.wait(WRITE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        code = None
    if code == 0 and os.path.isfile(archive.writing):
        os.replace(archive.writing, archive.path)
        remove_unused(os.path.dirname(archive.path))
        log.info("class archive written in %.0f s (%d MB)", time.monotonic() - started,
                 os.path.getsize(archive.path) // 2**20)
        return
    log.warning("the JVM's class archive was not written (exit code %s): the next run tries again", code)
    if os.path.exists(archive.writing):
        os.remove(archive.writing)
