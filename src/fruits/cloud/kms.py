"""KMS calls, one function per API operation (the disk key of the clusters). The client is passed in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe_key(kms, key_id: str) -> dict[str, Any] | None:
    """The key's metadata (key id, ARN or alias/NAME), or None when there is no such key or alias."""
    try:
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        return None


def create_key(kms, description: str, tags: Mapping[str, str]) -> dict[str, Any]:
    return kms.create_key(Description=description, KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
                          Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"]


def create_alias(kms, alias: str, key_id: str) -> None:
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)


def delete_alias(kms, alias: str) -> None:
    kms.delete_alias(AliasName=alias)


def schedule_key_deletion(kms, key_id: str, days: int) -> None:
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
