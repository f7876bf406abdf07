"""`fruits cloud upload`: a local folder to s3://BUCKET/PREFIX, in parallel, skipping what is already there.

A file is skipped when an object with the same key has the same size and the same content: the ETag equals
the MD5 for a single-part object encrypted with SSE-S3; otherwise (SSE-KMS, or an object uploaded by another
tool) the sha256 that fruits stores in the object's metadata is compared. Objects are written with one
PutObject each (photos are small; S3 allows 5 GB per PutObject).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import s3 as s3_api
from .errors import CloudUsageError, UploadError
from .progress import ProgressLine

MAX_PUT_BYTES = 5 * 1024**3
SHA256_METADATA = "sha256"  # x-amz-meta-sha256


@dataclass(frozen=True)
class LocalFile:
    path: Path
    key: str
    size: int


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0
    bytes_skipped: int = 0


def split_destination(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://BUCKET/PREFIX; the prefix ends with '/' unless empty."""
    from ..storage import split_s3

    try:
        bucket, key = split_s3(uri)
    except ValueError:
        raise CloudUsageError(f"bad destination {uri!r}: give s3://BUCKET/PREFIX") from None
    prefix = key.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def scan(local_dir: str | os.PathLike, prefix: str) -> list[LocalFile]:
    """Every regular file under `local_dir` (recursively, sorted), with its key under `prefix`."""
    root = Path(local_dir).expanduser()
    if not root.exists():
        raise UploadError(f"local folder not found: {root}")
    if root.is_file():
        return [LocalFile(root, prefix + root.name, root.stat().st_size)]
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            size = path.stat().st_size
            if size > MAX_PUT_BYTES:
                raise UploadError(f"{path} is larger than 5 GB, which one PutObject cannot take")
            files.append(LocalFile(path, prefix + path.relative_to(root).as_posix(), size))
    if not files:
        raise UploadError(f"no file to upload under {root}")
    return files


def digests(path: Path) -> tuple[str, str]:
    """(md5 hex, sha256 hex) of a file, read once."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _already_there(s3, bucket: str, item: LocalFile, listed: dict | None, md5: str, sha256: str) -> bool:
    if listed is None or listed.get("Size") != item.size:
        return False
    if listed.get("ETag", "").strip('"') == md5:
        return True
    head = s3_api.head_object(s3, bucket, item.key)
    return bool(head) and head.get("Metadata", {}).get(SHA256_METADATA) == sha256


def _transfer(s3, bucket: str, item: LocalFile, listed: dict | None) -> bool:
    """Upload one file unless it is already there; True when it was skipped."""
    md5, sha256 = digests(item.path)
    if _already_there(s3, bucket, item, listed, md5, sha256):
        return True
    content_type = mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
    with open(item.path, "rb") as body:
        s3_api.put_object(
            s3, bucket, item.key, body,
            content_md5=base64.b64encode(bytes.fromhex(md5)).decode("ascii"),
            metadata={SHA256_METADATA: sha256},
            content_type=content_type,
        )
    return False


def upload_files(
    s3,
    bucket: str,
    files: Iterable[LocalFile],
    workers: int = 8,
    progress: ProgressLine | None = None,
    listing_prefix: str | None = None,
) -> UploadReport:
    """Upload `files` with `workers` threads, skipping those already in the bucket; one listing up front."""
    files = list(files)
    if workers < 1 or workers > 64:
        raise CloudUsageError(f"bad --workers {workers}: give 1 to 64")
    prefix = listing_prefix if listing_prefix is not None else os.path.commonprefix([f.key for f in files])
    listed = {obj["Key"]: obj for obj in s3_api.list_objects(s3, bucket, prefix)}
    report = UploadReport()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fruits-upload")
    try:
        futures = {pool.submit(_transfer, s3, bucket, item, listed.get(item.key)): item for item in files}
        for future in as_completed(futures):
            item = futures[future]
            skipped = future.result()  # an AWS error stops the upload here and goes up (translated by the CLI)
            if skipped:
                report.skipped.append(item.key)
                report.bytes_skipped += item.size
            else:
                report.uploaded.append(item.key)
                report.bytes_uploaded += item.size
            if progress:
                progress.advance(item.size, skipped)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    report.uploaded.sort()
    report.skipped.sort()
    if progress:
        progress.close()
    return report


def upload_folder(
    s3, local_dir: str, destination: str, workers: int = 8, show_progress: Callable[..., ProgressLine] | None = None
) -> tuple[str, UploadReport]:
    bucket, prefix = split_destination(destination)
    files = scan(local_dir, prefix)
    progress = show_progress("upload", len(files), sum(f.size for f in files)) if show_progress else None
    return bucket, upload_files(s3, bucket, files, workers=workers, progress=progress, listing_prefix=prefix)
