"""Progress of long Spark stages, measured on the driver while they run, reported to a callback.

Spark reports how many input records its running tasks have read (executor heartbeats carry the task
metrics, `spark.executor.heartbeatInterval`) and how many tasks are done. The callback gets
`(done, total)` in the caller's unit (photos for the featurization); what to show is the caller's concern
(the CLI draws a progress bar, a notebook may print). Without a callback, a log line every `interval` s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("fruits")

Progress = Callable[[int, int], None]


class TaskProgress:
    """While the block runs, call `on_progress(done, total)` every `interval` seconds (when it changed).

    `total` is the number of records (photos) the stages read; `done` is estimated from the records read by
    the active stages, or from the share of tasks done when the record counts are not available.
    """

    def __init__(self, spark, label: str, total: int | None = None, on_progress: Progress | None = None,
                 interval: float | None = None):
        self._context = spark.sparkContext
        self._tracker = spark.sparkContext.statusTracker()
        self._label = label
        self._total = total
        self._on_progress = on_progress
        self._interval = interval if interval is not None else (1.0 if on_progress else 15.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{label}", daemon=True)
        self._last = None
        self._seen_stages: set[int] = set()

    def __enter__(self):
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, exc_type, *exc):
        self._stop.set()
        self._thread.join(timeout=2)
        if exc_type is None and self._on_progress and self._total:
            self._on_progress(self._total, self._total)
        return False

    def _tasks(self) -> tuple[int, int]:
        done = total = 0
        for stage_id in self._tracker.getActiveStageIds():
            info = self._tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
        return done, total

    def _records_read(self) -> int | None:
        """Input records read so far by the active stages (live task metrics), None when unavailable."""
        try:
            stages = self._context._jsc.sc().statusStore().activeStages()
            records = 0
            for i in range(stages.size()):
                records += int(stages.apply(i).inputRecords())
            return records
        except Exception:  # noqa: BLE001 - an internal Spark API: progress is best effort
            return None

    def snapshot(self) -> tuple[int, int] | None:
        done_tasks, total_tasks = self._tasks()
        if not total_tasks:
            return None
        if not self._total:
            return done_tasks, total_tasks
        by_tasks = int(self._total * done_tasks / total_tasks)
        records = self._records_read()
        done = max(by_tasks, min(records or 0, self._total))
        return done, self._total

    def _loop(self):
        while not self._stop.wait(self._interval):
            try:
                state = self.snapshot()
            except Exception:  # noqa: BLE001 - the JVM may be shutting down; progress is best effort
                return
            if state is None or state == self._last:
                continue
            self._last = state
            if self._on_progress:
                self._on_progress(*state)
            else:
                unit = "photos" if self._total else "tasks"
                log.info("%s: %d/%d %s (%.0f s)", self._label, *state, unit, time.monotonic() - self._started)
