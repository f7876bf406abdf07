"""Read bytes and Parquet from any location a run writes to: a local path, `file:` URIs, `s3://` (and `s3a://`).

The Spark job reaches storage through Hadoop; the dashboard and `fruits identify` must not start a JVM, so they
use pyarrow's file systems instead. One `Store` serves the run's tables, the reference photos (their `path`
column holds the URI Spark read them from) and the weights file named in the manifest.
"""

from __future__ import annotations

import logging
import os
import threading
from urllib.parse import urlparse

import pyarrow.fs as pafs

from .. import storage
from ..errors import RunOutputError

log = logging.getLogger(__name__)


class StorageError(RunOutputError):
    """A location cannot be reached or read (missing file, unknown scheme, S3 access denied)."""


def s3_options_from_env(env: dict[str, str] | None = None) -> dict:
    """S3FileSystem options from the standard AWS variables.

    `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` point at an S3-compatible server (MinIO, a moto server in the
    tests); `AWS_REGION` / `AWS_DEFAULT_REGION` name the region. Credentials are left to the AWS SDK chain
    (environment, ~/.aws, instance profile) and never pass through our code.
    """
    env = os.environ if env is None else env
    options: dict = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = parsed.netloc
        options["scheme"] = parsed.scheme or "https"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return options


class Store:
    """Resolves locations to (pyarrow file system, path) and reads them. Thread-safe; S3 clients are reused."""

    def __init__(self, s3_options: dict | None = None):
        self._s3_options = s3_options
        self._s3: dict[str, pafs.FileSystem] = {}
        self._local = pafs.LocalFileSystem()
        self._lock = threading.Lock()

    def resolve(self, location: str) -> tuple[pafs.FileSystem, str]:
        location = location.strip()
        if storage.is_local(location):
            return self._local, os.path.abspath(os.path.expanduser(storage.local_path(location)))
        if storage.is_s3(location):
            try:
                bucket, key = storage.split_s3(location)
            except ValueError:
                raise StorageError(f"bad S3 location {location!r}: expected s3://BUCKET/KEY") from None
            return self._s3_for(bucket), f"{bucket}/{key}".rstrip("/")
        raise StorageError(
            f"cannot read {location}: the dashboard and identify read local paths and s3:// only "
            f"(scheme {storage.scheme(location)!r} is Spark-only)"
        )

    def _s3_for(self, bucket: str) -> pafs.FileSystem:
        options = dict(s3_options_from_env() if self._s3_options is None else self._s3_options)
        # Without an endpoint or region the SDK would assume us-east-1; EU buckets answer with a redirect
        # pyarrow does not follow, so ask S3 where the bucket lives (one request per bucket).
        key = bucket if "region" not in options and "endpoint_override" not in options else ""
        with self._lock:
            fs = self._s3.get(key)
            if fs is None:
                if key:
                    try:
                        options["region"] = pafs.resolve_s3_region(bucket)
                    except OSError as exc:
                        raise StorageError(f"cannot reach S3 bucket {bucket}: {_one_line(exc)}") from None
                fs = pafs.S3FileSystem(**options)
                self._s3[key] = fs
            return fs

    def kind(self, location: str) -> str:
        """'dir', 'file' or 'missing'."""
        fs, path = self.resolve(location)
        try:
            info = fs.get_file_info(path)
        except OSError as exc:
            raise StorageError(f"cannot reach {location}: {_one_line(exc)}") from None
        if info.type == pafs.FileType.Directory:
            return "dir"
        if info.type == pafs.FileType.File:
            return "file"
        if storage.is_s3(location):
            # S3 has no folders: a prefix "exists" when some key lies under it.
            try:
                listing = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
            except OSError as exc:
                raise StorageError(f"cannot list {location}: {_one_line(exc)}") from None
            if listing:
                return "dir"
        return "missing"

    def read_bytes(self, location: str, max_bytes: int | None = None) -> bytes:
        """The whole object; StorageError when missing or (with max_bytes) larger than max_bytes."""
        fs, path = self.resolve(location)
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read() if max_bytes is None else _read_at_most(stream, max_bytes + 1)
        except FileNotFoundError:
            raise StorageError(f"not found: {location}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {location}: {_one_line(exc)}") from None
        if max_bytes is not None and len(data) > max_bytes:
            raise StorageError(f"{location} is larger than the {max_bytes}-byte limit")
        return data


def _read_at_most(stream, limit: int, chunk: int = 1 << 20) -> bytes:
    """Up to `limit` bytes, read a chunk at a time: `stream.read(limit)` allocates `limit` bytes up front (50 MB
    for every thumbnail under the default --max-bytes, 256 MB for a classifier file)."""
    parts, total = [], 0
    while total < limit:
        part = stream.read(min(chunk, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _one_line(exc: BaseException) -> str:
    return str(exc).replace("\n", " ").strip()[:300] or type(exc).__name__
