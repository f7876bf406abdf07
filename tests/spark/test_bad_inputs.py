"""Hostile INPUT folders through real Spark (local[2]): files too large to read, a directory named like a photo,
a symlink loop, an unreadable file. The run succeeds, accounts for every file, and no process of the run grows
past 1.5 GB while it reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from fruits.outputs import parse_manifest

MEMORY_LIMIT = 1.5 * 1000**3


def sparse_file(path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)  # holes: no disk space, but Spark sees `size` bytes


def peak_rss_of_tree(process: psutil.Process, interval: float = 0.1) -> dict[str, int]:
    """Peak RSS of `process` and of every process it starts (the JVM, Spark's Python workers) until it ends."""
    peak: dict[str, int] = {}
    while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
        try:
            tree = [process, *process.children(recursive=True)]
        except psutil.Error:
            break
        for member in tree:
            try:
                key = f"{member.pid} {' '.join(member.cmdline()[:3])[:80]}"
                peak[key] = max(peak.get(key, 0), member.memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(interval)
    return peak


@pytest.fixture(scope="module")
def hostile_photos(tmp_path_factory, synthetic_photos):
    root = tmp_path_factory.mktemp("hostile") / "photos"
    shutil.copytree(synthetic_photos / "Training", root / "Training")
    odd = root / "Training" / "odd"
    odd.mkdir()
    sparse_file(odd / "huge.jpg", int(2.2 * 1000**3))  # over 2 GiB: Spark could not even hold it in one array
    sparse_file(odd / "big.jpg", 300 * 1000**2)  # over --max-bytes (50 MB)
    (odd / "x.jpg").mkdir()  # a directory named like a photo, with a real photo inside
    shutil.copy(next((synthetic_photos / "Training" / "apple").glob("*.jpg")), odd / "x.jpg" / "inside.jpg")
    (odd / "loop").symlink_to(odd, target_is_directory=True)  # a symlink loop
    (odd / "self.jpg").symlink_to(odd / "self.jpg")  # a symlink to itself
    locked = odd / "locked.jpg"
    shutil.copy(next((synthetic_photos / "Training" / "lemon").glob("*.jpg")), locked)
    locked.chmod(0)
    yield root
    locked.chmod(0o644)


@pytest.fixture(scope="module")
def hostile_run(hostile_photos, shared_weights, tmp_path_factory):
    """`fruits run` as its own process in local[2] (a fresh JVM and workers, as a user runs it), its memory
    sampled every 0.1 s."""
    output = tmp_path_factory.mktemp("hostile-run") / "out"
    # A 1 GB driver heap (the default is 4 GB, which the JVM grows into lazily on a busy machine): the run must
    # fit in it with a 2.2 GB and a 300 MB file in INPUT, which it can only do if it never reads them.
    command = [sys.executable, "-m", "fruits", "run", str(hostile_photos), str(output), "--master", "local[2]",
               "--conf", "spark.driver.memory=1g", "--weights", str(shared_weights), "--image-size", "64", "--k", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_rss_of_tree(psutil.Process(process.pid))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return output, parse_manifest((output / "manifest.json").read_text()), peak


def test_files_over_the_limit_become_errors_without_being_read(hostile_run):
    output, manifest, _ = hostile_run
    errors = pd.read_parquet(output / "errors")
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in zip(errors["path"], errors["reason"])}
    assert "over the --max-bytes limit" in reasons["huge.jpg"] and str(int(2.2 * 1000**3)) in reasons["huge.jpg"]
    assert "over the --max-bytes limit" in reasons["big.jpg"]
    features = pd.read_parquet(output / "features")
    names = set(features["path"].str.rsplit("/", n=1).str[1])
    assert "inside.jpg" in names  # the photo inside the directory named x.jpg
    assert manifest.n_input == manifest.n_features + manifest.n_errors
    # The symlink loop is left out, not followed ~40 levels deep: each file is counted once.
    assert not any("/loop/" in path for path in [*features["path"], *errors["path"]])
    assert len(errors) == manifest.n_errors - manifest.inputs[0].n_skipped + (manifest.inputs[0].n_skipped > 0)
    assert manifest.n_input == 30 + 2 + 1 + 1  # the Training photos, huge and big, inside.jpg, locked.jpg


@pytest.mark.slow
def test_no_process_of_the_run_grows_past_the_limit(hostile_run):
    _, _, peak = hostile_run
    assert len(peak) >= 3  # the driver (Python), the JVM, Spark's Python workers
    too_big = {name: rss for name, rss in peak.items() if rss > MEMORY_LIMIT}
    assert not too_big, too_big


def test_an_unreadable_file_is_counted_as_skipped(hostile_run):
    if os.geteuid() == 0:
        pytest.skip("running as root: a mode-000 file is readable, nothing to test")
    _, manifest, _ = hostile_run
    assert manifest.inputs[0].n_skipped >= 1
