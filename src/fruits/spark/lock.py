"""One run at a time in a local OUTPUT: a lock file saying which run holds it (host, pid, start time).

Taken with O_CREAT | O_EXCL (atomic on a local disk), released when the run ends, failed or not. A lock
left by a run that was killed (SIGKILL, power cut) is stale: on the same host its pid is gone, or belongs to
a process started after the lock was written (a reused pid); such a lock is taken over. A lock from another
host cannot be checked from here and is never taken over (the message says how to remove it).

On S3 there is no atomic create-if-absent through Hadoop, so no lock is taken there (see the README).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass

from ..errors import OutputError

log = logging.getLogger("fruits")


@dataclass(frozen=True)
class LockHolder:
    host: str
    pid: int
    started_at: str  # UTC, ISO 8601, for people
    process_started: float | None  # the holder's process start (seconds since the epoch), to spot pid reuse

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started_at}"


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch, from /proc), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5): start time in clock ticks after boot
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(holder: LockHolder) -> bool:
    """True when the holder is known to be gone: same host and its pid dead or reused."""
    if holder.host != socket.gethostname():
        return False
    if not _alive(holder.pid):
        return True
    now_started = process_started(holder.pid)
    if holder.process_started is None or now_started is None:
        return False
    return abs(now_started - holder.process_started) > 2.0


class OutputLock:
    """`OUTPUT/_fruits_lock` of a local OUTPUT folder; `acquire()` raises OutputError naming the holder."""

    def __init__(self, folder: str, name: str = "_fruits_lock"):
        self.path = os.path.join(folder, name)
        self.holder: LockHolder | None = None

    def acquire(self) -> OutputLock:
        me = LockHolder(socket.gethostname(), os.getpid(),
                        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), process_started(os.getpid()))
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.read()
                if holder is None and self._age() < 10.0:
                    # Just created by a run that has not written its name yet.
                    raise OutputError(f"OUTPUT {os.path.dirname(self.path)} is being claimed by another fruits run; "
                                      "wait for it to finish or choose another OUTPUT") from None
                if holder is not None and not is_stale(holder):
                    raise OutputError(
                        f"OUTPUT {os.path.dirname(self.path)} is being written by another fruits run ({holder.describe()}); "
                        f"wait for it to finish or choose another OUTPUT (if that run is gone, delete {self.path})"
                    ) from None
                log.info("taking over a stale lock (%s)", holder.describe() if holder else "unreadable")
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(me), handle)
            self.holder = me
            return self
        raise OutputError(f"cannot take the lock {self.path}: another run keeps taking it")

    def read(self) -> LockHolder | None:
        """The holder written in the lock file; None when it is unreadable (a run killed while writing it)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            return LockHolder(str(data["host"]), int(data["pid"]), str(data["started_at"]),
                              data.get("process_started"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _age(self) -> float:
        try:
            return time.time() - os.stat(self.path).st_mtime
        except OSError:
            return float("inf")

    def release(self) -> None:
        if self.holder is None:
            return
        current = self.read()
        if current is not None and (current.host, current.pid) == (self.holder.host, self.holder.pid):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.holder = None
