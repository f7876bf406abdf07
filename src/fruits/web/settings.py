"""What the web app is configured with: built once by `fruits serve` (or a test) and passed to create_app."""

from __future__ import annotations

from dataclasses import dataclass

from ..classify import DEFAULT_NEIGHBOURS, validate_neighbours
from ..errors import UsageError

DEFAULT_MAX_UPLOAD_BYTES = 15 * 1024 * 1024  # a phone JPEG is 2-8 MB


@dataclass(frozen=True)
class Settings:
    output: str  # the `fruits run` OUTPUT to serve: a folder or s3:// URI
    neighbours: int = DEFAULT_NEIGHBOURS  # k of the kNN classifier
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # bodies above this are cut off while streaming (413)
    gallery_size: int = 12  # nearest neighbours shown on an item page / identify answer
    page_size: int = 48  # thumbnails per browse page
    map_points: int = 3000  # most points drawn on a PCA map (a deterministic sample beyond that)
    describe_workers: int = 8  # threads reading photos for their descriptive info (I/O bound on S3)
    warm_up: bool = True  # at start-up, describe every photo and build the identify model in the background

    def validated(self) -> Settings:
        validate_neighbours(self.neighbours)
        if not 1024 <= self.max_upload_bytes <= 200 * 1024 * 1024:
            raise UsageError(f"bad --max-upload-mb: {self.max_upload_bytes} bytes is outside 1 KB .. 200 MB")
        for name in ("gallery_size", "page_size", "map_points", "describe_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"bad {name} {value!r}: give a whole number of at least 1")
        return self
