"""Storage locations: local paths, `file://`, `s3://`, `s3a://` and any other Hadoop URI (pure helpers).

Spark reads and writes every location through Hadoop's FileSystem API, so the pipeline handles URIs as
strings; this module only normalises them and tells local from remote.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import urlparse

from .errors import UsageError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
# A Windows drive letter ("C:\\...") is not a URI scheme.
_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


def scheme(location: str) -> str | None:
    """The URI scheme in lower case (`s3`, `s3a`, `file`, `hdfs` ...), or None for a bare path."""
    if _DRIVE.match(location):
        return None
    match = _SCHEME.match(location)
    return match.group(1).lower() if match else None


def is_local(location: str) -> bool:
    return scheme(location) in (None, "file")


def is_s3(location: str) -> bool:
    return scheme(location) in ("s3", "s3a", "s3n")


def local_path(location: str) -> str:
    """The file-system path of a local location (`file:///x`, `file:/x` or `/x`)."""
    if scheme(location) == "file":
        parsed = urlparse(location)
        return parsed.path or "/"
    return location


def qualify(location: str, local_default: bool = True) -> str:
    """A URI Spark resolves the same way wherever it runs.

    A bare path means the local disk in local mode (`file://` + absolute path); on a cluster it is left to
    Spark, which resolves it against the cluster's default file system (HDFS on EMR).
    """
    location = location.strip()
    if scheme(location) is None:
        if not local_default:
            return location
        return "file://" + os.path.abspath(os.path.expanduser(location))
    if scheme(location) == "file":
        return "file://" + os.path.abspath(local_path(location))
    return location


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def split_s3(location: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` style URI."""
    parsed = urlparse(location)
    if not is_s3(location) or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {location}")
    return parsed.netloc, parsed.path.lstrip("/")


def overlapping(locations: Sequence[str]) -> tuple[str, str, bool] | None:
    """The first (a, b, same) of locations where b is a (same) or lies inside a, else None.

    Local locations are compared by their real path (a symlink to a folder is that folder); other URIs by
    their text, with trailing slashes ignored. Used to refuse an INPUT given twice or nested in another:
    its photos would be featurized twice.
    """
    keys = [comparable_location(location) for location in locations]
    for i, outer in enumerate(keys):
        for j, inner in enumerate(keys):
            if i != j and (inner == outer and i < j or inner.startswith(outer.rstrip("/") + "/")):
                return locations[i], locations[j], inner == outer
    return None


def refuse_overlapping(locations: Sequence[str]) -> None:
    """UsageError when an INPUT is given twice or lies inside another (see `overlapping`)."""
    clash = overlapping(locations)
    if clash:
        outer, inner, same = clash
        where = "given twice" if same else f"inside INPUT {outer}"
        raise UsageError(f"INPUT {inner} is {where}: its photos would be counted twice; give each folder once")


def comparable_location(location: str) -> str:
    """What every spelling of one folder shares: a local folder's real path as a file:// URI (symlinks resolved,
    `~` expanded), else the URI without its last '/'."""
    if is_local(location):
        return "file://" + os.path.realpath(os.path.expanduser(local_path(location)))
    return location.rstrip("/")


def symlink_loops(folder: str) -> list[str]:
    """Symlinks under a local `folder` that point to the folder holding them or to one of its ancestors.

    Hadoop's local listing follows symlinks, so such a link makes every file under it listed again and again
    (until the operating system's limit on nested links, about 40 levels): the job leaves these paths out.
    """
    loops = []
    for parent, dirnames, filenames in os.walk(folder, followlinks=False):
        real_parent = os.path.realpath(parent)
        for name in dirnames + filenames:
            path = os.path.join(parent, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if real_parent == target or real_parent.startswith(target.rstrip(os.sep) + os.sep):
                loops.append(os.path.abspath(path))
    return sorted(loops)
