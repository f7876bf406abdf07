"""S3 calls, one function per API operation. The client is passed in; "not found" answers become None.

Bucket-level reads return None when the setting is absent so that `bucket.py` can compare and write only what
differs; anything else AWS says goes up as botocore's exception (translated once, in the CLI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from .errors import BucketForbiddenError, error_code

_MISSING_BUCKET = {"NoSuchBucket", "404", "NotFound"}


def _absent(exc: Exception, *codes: str) -> bool:
    return error_code(exc) in codes


# --- the bucket ---------------------------------------------------------------------------------------------


def get_bucket_location(s3, bucket: str) -> str | None | bool:
    """The bucket's LocationConstraint (None means us-east-1), or False when the bucket does not exist."""
    try:
        return s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except s3.exceptions.ClientError as exc:
        if _absent(exc, *_MISSING_BUCKET):
            return False
        if error_code(exc) in ("AccessDenied", "403", "AllAccessDisabled"):
            raise BucketForbiddenError(
                f"bucket {bucket} exists but belongs to another AWS account (or this identity may not read it): "
                "bucket names are global, pick another name"
            ) from None
        raise


def create_bucket(s3, bucket: str, region: str) -> None:
    # ACLs disabled (BucketOwnerEnforced): access is decided by policies only, no object ACL can make data public.
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": region},
        ObjectOwnership="BucketOwnerEnforced",
    )


def wait_bucket_exists(s3, bucket: str, config: dict[str, int]) -> None:
    s3.get_waiter("bucket_exists").wait(Bucket=bucket, WaiterConfig=config)


def delete_bucket(s3, bucket: str) -> None:
    s3.delete_bucket(Bucket=bucket)


def get_public_access_block(s3, bucket: str) -> dict[str, bool] | None:
    try:
        return s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "NoSuchPublicAccessBlockConfiguration"):
            return None
        raise


def put_public_access_block(s3, bucket: str, configuration: Mapping[str, bool]) -> None:
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(configuration))


def get_bucket_encryption(s3, bucket: str) -> list[dict[str, Any]] | None:
    try:
        return s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "ServerSideEncryptionConfigurationNotFoundError"):
            return None
        raise


def put_bucket_encryption(s3, bucket: str, rules: list[dict[str, Any]]) -> None:
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})


def get_bucket_policy(s3, bucket: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "NoSuchBucketPolicy"):
            return None
        raise


def put_bucket_policy(s3, bucket: str, policy: Mapping[str, Any]) -> None:
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy, separators=(",", ":")))


def delete_bucket_policy(s3, bucket: str) -> None:
    s3.delete_bucket_policy(Bucket=bucket)


def get_bucket_versioning(s3, bucket: str) -> str | None:
    """'Enabled', 'Suspended' or None (never enabled)."""
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def put_bucket_versioning(s3, bucket: str, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def get_bucket_lifecycle(s3, bucket: str) -> list[dict[str, Any]] | None:
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "NoSuchLifecycleConfiguration"):
            return None
        raise


def put_bucket_lifecycle(s3, bucket: str, rules: list[dict[str, Any]]) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def delete_bucket_lifecycle(s3, bucket: str) -> None:
    s3.delete_bucket_lifecycle(Bucket=bucket)


def get_ownership_controls(s3, bucket: str) -> str | None:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "OwnershipControlsNotFoundError"):
            return None
        raise
    return rules[0]["ObjectOwnership"] if rules else None


def put_ownership_controls(s3, bucket: str, ownership: str = "BucketOwnerEnforced") -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]})


# --- objects ------------------------------------------------------------------------------------------------


def list_objects(s3, bucket: str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every object under `prefix` (Key, Size, ETag ...), across pages."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def head_object(s3, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "404", "NoSuchKey", "NotFound"):
            return None
        raise


def put_object(
    s3,
    bucket: str,
    key: str,
    body: BinaryIO | bytes,
    content_md5: str,
    metadata: Mapping[str, str],
    content_type: str = "application/octet-stream",
) -> None:
    # Content-MD5 makes S3 refuse a body corrupted in transit; the sha256 in metadata lets a re-run skip the file
    # whatever the bucket's encryption (with SSE-KMS the ETag is not the MD5).
    s3.put_object(
        Bucket=bucket, Key=key, Body=body, ContentMD5=content_md5, Metadata=dict(metadata), ContentType=content_type
    )


def get_object_bytes(s3, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.ClientError as exc:
        if _absent(exc, "NoSuchKey", "404"):
            return None
        raise


def list_object_versions(s3, bucket: str) -> Iterator[dict[str, str]]:
    """Every version and delete marker of the bucket, as {Key, VersionId} (what DeleteObjects takes)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            yield {"Key": entry["Key"], "VersionId": entry["VersionId"]}


def delete_object_versions(s3, bucket: str, versions: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Delete up to 1,000 versions in one call; returns the per-object errors (empty when all went)."""
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": versions, "Quiet": True})
    return answer.get("Errors", [])
