"""The local JVM's class-data archive (fruits.spark.class_archive): written once by a JVM as it exits, mapped by
the next ones, never half-written under its own name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fruits.spark import class_archive
from fruits.spark.class_archive import ClassArchive

ROOT = Path(__file__).resolve().parents[2]

# A Spark session in a process of its own (the test session's JVM is running: a new archive needs a new JVM);
# it prints its JVM's command line.
WRITE = """
import sys
from fruits.spark.session import build_spark_session, stop_session
spark = build_spark_session("local[1]", "archive-test", driver_memory="1g", class_archive=sys.argv[1])
pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
print(open(f"/proc/{pid}/cmdline").read(), end="")
stop_session(spark)
"""


def maps(jvm: list[str], archive: Path, share: str = "-Xshare:on") -> subprocess.CompletedProcess:
    """Start Spark's JVM with its own options and the archive. -Xshare:on: it refuses to start unless it maps
    the archive (the same Java build, the same class path, an intact file); -Xshare:auto (what runs use): it
    starts without an archive it cannot map."""
    return subprocess.run([*jvm, share, f"-XX:SharedArchiveFile={archive}", "-version"],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_the_first_jvm_writes_the_archive_at_exit_and_the_next_one_maps_it(tmp_path):
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("no /proc on this system")
    folder = tmp_path / "jvm"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    first = subprocess.run([sys.executable, "-c", WRITE, str(folder)], env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    command = first.stdout.split("\0")
    jvm = [arg for arg in command[:command.index("org.apache.spark.deploy.SparkSubmit")]
           if not arg.startswith("-XX:ArchiveClassesAtExit=")]
    archives = list(folder.glob("*.jsa"))
    assert len(archives) == 1 and archives[0].stat().st_size > 10_000_000
    assert list(folder.glob("*.tmp")) == []  # written under a temporary name, renamed once the JVM exited
    mapped = maps(jvm, archives[0])
    assert mapped.returncode == 0, mapped.stderr
    assert maps([jvm[0], "-cp", str(tmp_path)], archives[0]).returncode != 0  # another class path: refused
    archives[0].chmod(0o644)
    with archives[0].open("r+b") as archive:  # the same file with other bytes: refused
        archive.write(b"\0" * 4096)
    assert maps(jvm, archives[0]).returncode != 0
    assert maps(jvm, archives[0], "-Xshare:auto").returncode == 0  # a run would start, without it


def test_options_write_or_map_the_archive_and_keep_the_jvm_quiet_about_it():
    writing = ClassArchive("/c/a.jsa", writing="/c/a.jsa.12.tmp")
    assert writing.java_options() == "-Xlog:cds*=off -XX:ArchiveClassesAtExit=/c/a.jsa.12.tmp"
    assert ClassArchive("/c/a.jsa").java_options() == "-Xlog:cds*=off -XX:SharedArchiveFile=/c/a.jsa"


def test_a_missing_archive_is_written_by_this_process_and_an_existing_one_is_used(tmp_path):
    first = class_archive.plan(str(tmp_path))
    assert first.writing == f"{first.path}.{os.getpid()}.tmp" and not os.path.exists(first.path)
    Path(first.path).write_bytes(b"archive")
    os.utime(first.path, (1, 1))
    second = class_archive.plan(str(tmp_path))
    assert second == ClassArchive(first.path)
    assert os.path.getmtime(first.path) > 1  # marked as used


def test_abandoned_temporary_archives_are_removed_and_those_being_written_kept(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    abandoned = tmp_path / f"spark-x-1.jsa.{gone.pid}.tmp"
    in_progress = tmp_path / f"spark-x-1.jsa.{os.getpid()}.tmp"
    for path in (abandoned, in_progress):
        path.write_bytes(b"part")
    class_archive.remove_abandoned(str(tmp_path))
    assert not abandoned.exists() and in_progress.exists()


def test_only_the_most_recently_used_archives_are_kept(tmp_path):
    for age, name in enumerate(["newest", "recent", "older", "oldest"]):
        path = tmp_path / f"spark-{name}.jsa"
        path.write_bytes(b"a")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    class_archive.remove_unused(str(tmp_path), keep=2)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["spark-newest.jsa", "spark-recent.jsa"]


def test_another_java_or_another_spark_gets_an_archive_of_its_own(tmp_path):
    java, jars = tmp_path / "java", tmp_path / "jars"
    java.write_bytes(b"java")
    jars.mkdir()
    key = class_archive.archive_key(str(java), str(jars), "4.3.0")
    assert class_archive.archive_key(str(java), str(jars), "4.3.0") == key
    assert class_archive.archive_key(str(java), str(jars), "3.5.7") != key
    (jars / "new.jar").write_bytes(b"jar")  # a jar added: the folder's time moves
    os.utime(jars, ns=(1, 1))
    assert class_archive.archive_key(str(java), str(jars), "4.3.0") != key
    java.write_bytes(b"another java")
    assert class_archive.archive_key(str(java), str(jars), "4.3.0") != key


@pytest.mark.parametrize("value, expected", [(None, True), ("on", True), ("off", False), ("0", False),
                                             ("false", False), (" OFF ", False)])
def test_the_archive_can_be_switched_off(value, expected):
    environ = {} if value is None else {class_archive.ARCHIVE_ENV: value}
    assert class_archive.enabled(environ) is expected


def test_java_is_found_as_spark_finds_it(tmp_path):
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_bytes(b"")
    assert class_archive.java_executable({"JAVA_HOME": str(home)}) == os.path.realpath(home / "bin" / "java")
    assert class_archive.java_executable({"JAVA_HOME": str(tmp_path / "none")}) is None


def test_runs_keep_their_archives_in_the_cache_unless_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("FRUITS_CACHE_DIR", str(tmp_path))
    assert class_archive.default_folder({}) == str(tmp_path / "jvm")
    assert class_archive.default_folder({class_archive.ARCHIVE_ENV: "off"}) is None
