"""The photos of a run as the dashboard shows them: descriptive info per photo, thumbnails, original bytes.

Photos are read by row (resolved from an id) through the run's Store, so the same code serves a local OUTPUT
and one on S3. Descriptions are computed once per photo and kept: the start-up warm-up describes a bounded
sample of the photos with a thread pool (S3 reads are I/O bound; fruits.web.catalog.MEASURE_SAMPLE), and the
photos a page shows are described when it asks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from ..errors import FruitsError
from ..images import ImageLimits
from ..run_output import ImageDescription, RunOutput, describe_image, thumbnail_jpeg

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 160


class PhotoUnavailable(FruitsError):
    """The photo listed in the run cannot be read any more (moved, deleted, no access)."""


class Photos:
    def __init__(self, run: RunOutput, workers: int = 8, thumbnails_kept: int = 2048):
        self.run = run
        self.limits = ImageLimits(max_bytes=run.manifest.limits.max_bytes,
                                  max_pixels=run.manifest.limits.max_pixels)
        self.workers = workers
        self._descriptions: dict[int, ImageDescription | None] = {}
        self._describe_lock = threading.Lock()
        self._thumbnails: OrderedDict[int, bytes] = OrderedDict()
        self._thumbnails_kept = thumbnails_kept
        self._thumbnail_lock = threading.Lock()

    def read(self, row: int) -> bytes:
        try:
            return self.run.read_image(row, max_bytes=self.limits.max_bytes)
        except FruitsError as exc:
            raise PhotoUnavailable(f"this photo cannot be read any more: {exc}") from None

    def description(self, row: int) -> ImageDescription | None:
        """None when the photo cannot be read or decoded now (it was readable when the run featurized it)."""
        if row in self._descriptions:
            return self._descriptions[row]
        try:
            found: ImageDescription | None = describe_image(self.read(row), self.limits)
        except FruitsError as exc:
            log.warning("cannot describe %s: %s", self.run.image_location(row), exc)
            found = None
        self._descriptions[row] = found  # dict assignment is atomic; a race only computes twice
        return found

    def describe(self, rows) -> list[ImageDescription | None]:
        """The descriptions of `rows`, in their order; the photos not described yet are read by a thread pool
        (one pool at a time: a page and the start-up warm-up asking together do not double the threads)."""
        rows = [int(r) for r in rows]
        missing = [row for row in rows if row not in self._descriptions]
        if len(missing) > 1:
            with self._describe_lock:
                missing = [row for row in missing if row not in self._descriptions]
                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="describe") as pool:
                    list(pool.map(self.description, missing))
                if len(missing) > 100:
                    log.info("described %d photos in %.1f s", len(missing), time.monotonic() - started)
        return [self._descriptions[row] if row in self._descriptions else self.description(row) for row in rows]

    def thumbnail(self, row: int) -> bytes:
        with self._thumbnail_lock:
            if row in self._thumbnails:
                self._thumbnails.move_to_end(row)
                return self._thumbnails[row]
        try:
            data = thumbnail_jpeg(self.read(row), THUMBNAIL_SIDE, self.limits)
        except PhotoUnavailable:
            raise
        except FruitsError as exc:
            raise PhotoUnavailable(f"this photo cannot be decoded any more: {exc}") from None
        with self._thumbnail_lock:
            self._thumbnails[row] = data
            while len(self._thumbnails) > self._thumbnails_kept:
                self._thumbnails.popitem(last=False)
        return data
