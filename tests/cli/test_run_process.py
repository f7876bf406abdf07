"""`fruits run` as real processes: the quiet terminal, a run killed with SIGKILL, two runs into one OUTPUT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import run_cli

FAST = ["--image-size", "32", "--k", "2"]


@pytest.fixture(scope="module")
def fast(shared_weights) -> list[str]:
    """A weights file rather than random weights: a `fruits` process then loads no TensorFlow on the driver once
    the file's digest and LiteRT conversion are cached (random weights cost it 12 CPU seconds of import and build)."""
    return ["--weights", str(shared_weights), *FAST]


def fruits(*args, **popen):
    return subprocess.Popen([sys.executable, "-m", "fruits", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **popen)


@pytest.mark.slow
def test_the_terminal_shows_our_lines_and_the_logs_go_to_the_output(synthetic_photos, fast, tmp_path):
    output = tmp_path / "out"
    process = fruits("run", str(synthetic_photos), str(output), *fast)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("fruits") for line in lines), err
    assert any("featurizing" in line and "photo/s" in line for line in lines), err
    assert "40 of 40 images featurized" in out
    logs = list((output / "_logs").glob("run-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text(errors="replace")
    # The libraries' lines are kept, not lost: LiteRT (the default engine) announces its XNNPACK delegate from
    # every Python worker. What the JVM says varies with the machine (native Hadoop, Java's modules), so it is
    # not asserted.
    assert "XNNPACK" in text, text
    assert f"libraries' logs: {logs[0]}" in err


@pytest.mark.slow
def test_killed_run_leaves_no_manifest_and_a_second_run_is_refused_then_a_rerun_succeeds(
        capsys, spark, synthetic_photos, fast, tmp_path):
    output = tmp_path / "out"
    first = fruits("run", str(synthetic_photos), str(output), *fast)
    lock = output / "_fruits_lock"
    deadline = time.monotonic() + 300
    # The run creates the lock, then writes its name in it: wait for both (read in between, it is empty).
    while not (lock.exists() and lock.read_text()) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lock.exists(), first.communicate()[1]
    holder = json.loads(lock.read_text())
    assert holder["pid"] == first.pid

    # A second run into the same OUTPUT while the first holds it: exit 2, naming the holder.
    code, _, err = run_cli(capsys, "run", str(synthetic_photos), str(output), *fast)
    assert code == 2 and f"pid {first.pid}" in err and "another fruits run" in err, err

    while not (output / "features").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # killed while it featurizes
    assert first.poll() is None, first.communicate()[1]
    os.killpg(first.pid, signal.SIGKILL)  # the run, its JVM and its workers, as a crash would
    first.wait(timeout=60)
    assert not (output / "manifest.json").exists()
    assert lock.exists()  # left behind by the killed run: stale

    code, out, err = run_cli(capsys, "run", str(synthetic_photos), str(output), *fast)
    assert code == 0, err
    assert (output / "manifest.json").exists() and not lock.exists()


def test_nested_inputs_exit_2_before_spark_starts(capsys, synthetic_photos, tmp_path):
    code, _, err = run_cli(capsys, "run", str(synthetic_photos), str(synthetic_photos / "Training"),
                           str(tmp_path / "out"), "--weights", "random:1", *FAST)
    assert code == 2 and "inside INPUT" in err
    assert not (tmp_path / "out").exists()
