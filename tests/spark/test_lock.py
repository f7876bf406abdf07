"""The lock of a local OUTPUT: one run at a time, the holder named, a stale lock taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from fruits.errors import OutputError
from fruits.spark.lock import LockHolder, OutputLock, is_stale, process_started


def _write(path, **holder):
    data = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": "2026-12-01T10:00:00+00:00",
            "process_started": process_started(os.getpid()), **holder}
    path.write_text(json.dumps(data))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_is_taken_and_released(tmp_path):
    lock = OutputLock(str(tmp_path)).acquire()
    holder = json.loads((tmp_path / "_fruits_lock").read_text())
    assert (holder["host"], holder["pid"]) == (socket.gethostname(), os.getpid()) and holder["started_at"]
    lock.release()
    assert not (tmp_path / "_fruits_lock").exists()


def test_a_live_holder_is_named_in_the_refusal(tmp_path):
    _write(tmp_path / "_fruits_lock", pid=os.getppid() or 1, process_started=None)
    with pytest.raises(OutputError, match=rf"another fruits run \(host {socket.gethostname()}, pid {os.getppid()}"):
        OutputLock(str(tmp_path)).acquire()
    assert (tmp_path / "_fruits_lock").exists()  # not ours to remove


@pytest.mark.parametrize("holder", [
    lambda: {"pid": _dead_pid()},  # killed
    lambda: {"pid": os.getpid(), "process_started": 1.0},  # pid reused by a later process (this one)
], ids=["dead-pid", "reused-pid"])
def test_a_stale_lock_is_taken_over(tmp_path, holder):
    _write(tmp_path / "_fruits_lock", **holder())
    lock = OutputLock(str(tmp_path)).acquire()
    assert json.loads((tmp_path / "_fruits_lock").read_text())["pid"] == os.getpid()
    lock.release()


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    _write(tmp_path / "_fruits_lock", host="some-other-machine", pid=_dead_pid())
    assert not is_stale(LockHolder("some-other-machine", 1, "t", None))
    with pytest.raises(OutputError, match="some-other-machine"):
        OutputLock(str(tmp_path)).acquire()


def test_release_leaves_a_lock_taken_over_by_another_run(tmp_path):
    lock = OutputLock(str(tmp_path)).acquire()
    _write(tmp_path / "_fruits_lock", pid=_dead_pid())
    lock.release()
    assert (tmp_path / "_fruits_lock").exists()
