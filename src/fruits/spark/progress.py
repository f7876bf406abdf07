"""Progress of long Spark stages, as log lines (Spark's own console bar only shows on a terminal)."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("fruits")


class TaskProgress:
    """While the block runs, log `label: done/total tasks` every `interval` seconds (when it changed)."""

    def __init__(self, spark, label: str, interval: float = 15.0):
        self._tracker = spark.sparkContext.statusTracker()
        self._label = label
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{label}", daemon=True)
        self._last = None

    def __enter__(self):
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=2)
        return False

    def _snapshot(self):
        done = total = 0
        for stage_id in self._tracker.getActiveStageIds():
            info = self._tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
        return done, total

    def _loop(self):
        while not self._stop.wait(self._interval):
            try:
                done, total = self._snapshot()
            except Exception:  # noqa: BLE001 - the JVM may be shutting down; progress is best effort
                return
            if total and (done, total) != self._last:
                elapsed = time.monotonic() - self._started
                log.info("%s: %d/%d tasks done (%.0f s)", self._label, done, total, elapsed)
                self._last = (done, total)
