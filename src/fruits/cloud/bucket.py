"""`fruits cloud init`: the bucket, hardened, in an EU region, idempotently.

Each setting is read back, compared with what we want, and written only when it differs, so a second run
changes nothing and says "unchanged". Settings the user added themselves (other policy statements, other
lifecycle rules) are kept: ours are merged in by their Sid / ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import s3 as s3_api
from .changes import Change
from .errors import BucketNameError, BucketNotFoundError, BucketRegionError, CloudUsageError
from .policydoc import same_policy
from .regions import bucket_location_to_region
from .waiting import DEFAULT_WAITS, Waits

TLS_SID = "DenyInsecureTransport"
LOG_PREFIX = "logs/"
TMP_PREFIX = "tmp/"
CODE_PREFIX = "code/"

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class BucketPlan:
    """What `init` wants for the bucket."""

    bucket: str
    region: str
    kms_key: str | None = None
    log_days: int = 30
    tmp_days: int = 7
    noncurrent_days: int = 30


def validate_bucket_name(bucket: str) -> str:
    """S3's naming rules, checked before any request so a typo costs nothing."""
    if (
        not _BUCKET_NAME.match(bucket or "")
        or ".." in bucket
        or ".-" in bucket
        or "-." in bucket
        or _IP_LIKE.match(bucket)
        or bucket.startswith(("xn--", "sthree-"))
        or bucket.endswith(("-s3alias", "--ol-s3", "--x-s3"))
    ):
        raise BucketNameError(
            f"bad bucket name {bucket!r}: 3-63 characters, lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return bucket


def validate_kms_key(kms_key: str | None, region: str) -> str | None:
    """A KMS key ARN in the bucket's region (S3 needs a same-region key; the ARN scopes the cluster's role)."""
    if kms_key is None:
        return None
    match = _KMS_KEY_ARN.match(kms_key)
    if not match:
        raise CloudUsageError(
            f"bad --kms-key {kms_key!r}: give the key ARN (arn:aws:kms:{region}:ACCOUNT:key/KEY-ID), "
            "not an alias or a bare id"
        )
    if match.group(1) != region:
        raise CloudUsageError(f"--kms-key is in {match.group(1)}, the bucket in {region}: use a key of {region}")
    return kms_key


# --- what we want (pure) ----------------------------------------------------------------------------------


def public_access_block() -> dict[str, bool]:
    return {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def encryption_rules(kms_key: str | None) -> list[dict[str, Any]]:
    if kms_key:
        # The S3 Bucket Key cuts KMS requests (and their cost) by orders of magnitude for many small photos.
        return [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key},
                 "BucketKeyEnabled": True}]
    return [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]


def tls_only_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def lifecycle_rules(plan: BucketPlan) -> list[dict[str, Any]]:
    return [
        {"ID": "fruits-expire-logs", "Filter": {"Prefix": LOG_PREFIX}, "Status": "Enabled",
         "Expiration": {"Days": plan.log_days}},
        {"ID": "fruits-expire-tmp", "Filter": {"Prefix": TMP_PREFIX}, "Status": "Enabled",
         "Expiration": {"Days": plan.tmp_days}},
        # Versioning keeps overwritten outputs; without this rule old versions (and deleted data) would stay
        # forever, which costs money and defeats erasure requests.
        {"ID": "fruits-noncurrent-versions", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": plan.noncurrent_days},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    ]


# --- comparing what is there with what we want (pure) ---------------------------------------------------------


def merged_policy(current: dict[str, Any] | None, statement: dict[str, Any]) -> dict[str, Any] | None:
    """The policy with our statement in it, or None when it is already there as we want it."""
    statements = list((current or {}).get("Statement", []))
    if isinstance(statements, dict):
        statements = [statements]
    ours = [s for s in statements if s.get("Sid") == statement["Sid"]]
    if len(ours) == 1 and same_policy(ours[0], statement):
        return None
    others = [s for s in statements if s.get("Sid") != statement["Sid"]]
    return {"Version": "2012-10-17", **{k: v for k, v in (current or {}).items() if k not in ("Version", "Statement")},
            "Statement": others + [statement]}


def _rule_signature(rule: dict[str, Any]) -> tuple:
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
    return (
        rule.get("ID"),
        rule.get("Status"),
        prefix or "",
        (rule.get("Expiration") or {}).get("Days"),
        (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
    )


def merged_lifecycle(current: list[dict[str, Any]] | None, wanted: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Other rules kept, ours replaced by ID; None when ours are already there as we want them."""
    current = current or []
    by_id = {rule.get("ID"): rule for rule in current}
    if all(rule["ID"] in by_id and _rule_signature(by_id[rule["ID"]]) == _rule_signature(rule) for rule in wanted):
        return None
    ours = {rule["ID"] for rule in wanted}
    return [rule for rule in current if rule.get("ID") not in ours] + wanted


def _encryption_signature(rules: list[dict[str, Any]] | None) -> tuple:
    if not rules:
        return ()
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
    algorithm = default.get("SSEAlgorithm")
    if algorithm == "aws:kms":
        return (algorithm, default.get("KMSMasterKeyID"), bool(rules[0].get("BucketKeyEnabled")))
    return (algorithm,)


# --- the flow -------------------------------------------------------------------------------------------------


def bucket_region(s3, bucket: str) -> str | None:
    """The region the bucket lives in, or None when it does not exist."""
    location = s3_api.get_bucket_location(s3, bucket)
    if location is False:
        return None
    return bucket_location_to_region(location)  # type: ignore[arg-type]


def require_bucket(s3, bucket: str, region: str) -> None:
    """The bucket must exist in `region` (commands other than `init` never create it)."""
    found = bucket_region(s3, bucket)
    if found is None:
        raise BucketNotFoundError(
            f"bucket {bucket} does not exist: create it with `fruits cloud init --bucket {bucket}`")
    if found != region:
        raise BucketRegionError(
            f"bucket {bucket} is in {found}, not {region}: pass --region {found} if that is in the EU")


def ensure_bucket(s3, plan: BucketPlan, waits: Waits = DEFAULT_WAITS) -> list[Change]:
    """Create the bucket if needed and bring every setting to what `plan` wants; report each setting."""
    validate_bucket_name(plan.bucket)
    validate_kms_key(plan.kms_key, plan.region)
    changes: list[Change] = []
    found = bucket_region(s3, plan.bucket)
    if found is None:
        s3_api.create_bucket(s3, plan.bucket, plan.region)
        if waits.enabled:
            s3_api.wait_bucket_exists(s3, plan.bucket, waits.config(default_delay=5, max_wait_s=100))
        changes.append(Change("bucket", "created", f"s3://{plan.bucket} in {plan.region}"))
    elif found != plan.region:
        raise BucketRegionError(
            f"bucket {plan.bucket} already exists in {found}, not {plan.region}: buckets cannot move; "
            f"pick another name (or pass --region {found} if that is in the EU)"
        )
    else:
        changes.append(Change("bucket", "unchanged", f"s3://{plan.bucket} in {plan.region}"))

    changes.append(_ensure_ownership(s3, plan.bucket))
    changes.append(_ensure_public_access_block(s3, plan.bucket))
    changes.append(_ensure_encryption(s3, plan))
    changes.append(_ensure_tls_policy(s3, plan.bucket))
    changes.append(_ensure_versioning(s3, plan.bucket))
    changes.append(_ensure_lifecycle(s3, plan))
    return changes


def _action(before: Any) -> str:
    return "created" if before in (None, [], ()) else "updated"


def _ensure_ownership(s3, bucket: str) -> Change:
    current = s3_api.get_ownership_controls(s3, bucket)
    if current == "BucketOwnerEnforced":
        return Change("object ownership", "unchanged", "ACLs disabled")
    s3_api.put_ownership_controls(s3, bucket)
    return Change("object ownership", _action(current), "ACLs disabled")


def _ensure_public_access_block(s3, bucket: str) -> Change:
    wanted = public_access_block()
    current = s3_api.get_public_access_block(s3, bucket)
    if current and all(current.get(k) is True for k in wanted):
        return Change("block public access", "unchanged", "all four on")
    s3_api.put_public_access_block(s3, bucket, wanted)
    return Change("block public access", _action(current), "all four on")


def _ensure_encryption(s3, plan: BucketPlan) -> Change:
    wanted = encryption_rules(plan.kms_key)
    detail = f"SSE-KMS with {plan.kms_key}" if plan.kms_key else "SSE-S3 (AES256)"
    current = s3_api.get_bucket_encryption(s3, plan.bucket)
    if _encryption_signature(current) == _encryption_signature(wanted):
        return Change("default encryption", "unchanged", detail)
    s3_api.put_bucket_encryption(s3, plan.bucket, wanted)
    return Change("default encryption", _action(current), detail)


def _ensure_tls_policy(s3, bucket: str) -> Change:
    current = s3_api.get_bucket_policy(s3, bucket)
    policy = merged_policy(current, tls_only_statement(bucket))
    if policy is None:
        return Change("bucket policy", "unchanged", "denies requests without TLS")
    s3_api.put_bucket_policy(s3, bucket, policy)
    return Change("bucket policy", _action(current), "denies requests without TLS")


def _ensure_versioning(s3, bucket: str) -> Change:
    current = s3_api.get_bucket_versioning(s3, bucket)
    if current == "Enabled":
        return Change("versioning", "unchanged", "enabled")
    s3_api.put_bucket_versioning(s3, bucket)
    return Change("versioning", _action(current), "enabled")


def _ensure_lifecycle(s3, plan: BucketPlan) -> Change:
    detail = (f"{LOG_PREFIX} expire after {plan.log_days} d, {TMP_PREFIX} after {plan.tmp_days} d, "
              f"old versions after {plan.noncurrent_days} d")
    current = s3_api.get_bucket_lifecycle(s3, plan.bucket)
    rules = merged_lifecycle(current, lifecycle_rules(plan))
    if rules is None:
        return Change("lifecycle", "unchanged", detail)
    s3_api.put_bucket_lifecycle(s3, plan.bucket, rules)
    return Change("lifecycle", _action(current), detail)


def bucket_kms_key(s3, bucket: str) -> str | None:
    """The KMS key ARN of the bucket's default encryption, if it uses SSE-KMS (the cluster's role needs it)."""
    rules = s3_api.get_bucket_encryption(s3, bucket) or []
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
            return default["KMSMasterKeyID"]
    return None
