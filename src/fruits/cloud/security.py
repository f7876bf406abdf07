"""Encryption of the nodes' disks: a KMS key and an EMR security configuration that uses it.

The security configuration turns on EMR's at-rest encryption of local disks (instance store and EBS volumes,
LUKS with a data key from KMS) and EBS encryption (the root volume too). S3 is already encrypted by the bucket's
default encryption (`init`); EMRFS reaches S3 over TLS.

Not encrypted: traffic between the nodes inside the VPC (Spark shuffle and RPC, YARN, HDFS). EMR's in-transit
encryption needs TLS certificates we would have to issue and ship (a PEM bundle in S3 or a custom certificate
provider), i.e. a certificate authority of our own; fruits does not do that (docs/cloud.md, "GDPR measures").

The key: `--kms-key ARN` (the bucket's SSE-KMS key, also used for the disks), else one that `init` creates, tags
and names `alias/fruits-<bucket>-disks` (about $1 per month plus requests, see docs/cloud.md).
Security configurations cannot be changed: one named `fruits-<bucket>-disks` is replaced when its content
differs (another key), and `destroy` deletes it.
"""

from __future__ import annotations

from typing import Any

from . import emr as emr_api
from . import kms as kms_api
from .changes import Change
from .policydoc import same_policy

KEY_TAGS = {"project": "fruits"}
KEY_DELETION_DAYS = 7  # the shortest waiting period KMS allows


def disk_key_alias(bucket: str) -> str:
    """KMS alias names allow letters, digits, '/', '_' and '-': a bucket's dots become '_'."""
    return f"alias/fruits-{bucket.replace('.', '_')}-disks"


def security_configuration(disk_key_arn: str) -> dict[str, Any]:
    return {"EncryptionConfiguration": {
        "EnableInTransitEncryption": False,  # needs certificates of our own: see the module docstring
        "EnableAtRestEncryption": True,
        "AtRestEncryptionConfiguration": {
            "LocalDiskEncryptionConfiguration": {
                "EncryptionKeyProviderType": "AwsKms",
                "AwsKmsKey": disk_key_arn,
                "EnableEbsEncryption": True,
            },
        },
    }}


def configuration_name(bucket: str) -> str:
    return f"fruits-{bucket}-disks"


# --- the key -----------------------------------------------------------------------------------------------


def ensure_disk_key(kms, bucket: str) -> tuple[Change, str]:
    """The bucket's disk key (created and tagged when missing); returns its Change and ARN."""
    alias = disk_key_alias(bucket)
    found = kms_api.describe_key(kms, alias)
    if found is not None and found.get("KeyState") not in ("PendingDeletion", "Disabled"):
        return Change(f"kms key {alias}", "unchanged", found["Arn"]), found["Arn"]
    if found is not None:  # a key of an earlier `destroy` that is waiting to be deleted: point the alias elsewhere
        kms_api.delete_alias(kms, alias)
    key = kms_api.create_key(kms, f"fruits: EMR disk encryption for bucket {bucket}",
                             {**KEY_TAGS, "fruits:bucket": bucket})
    kms_api.create_alias(kms, alias, key["KeyId"])
    return Change(f"kms key {alias}", "created", "~$1/month + requests"), key["Arn"]


def find_disk_key(kms, bucket: str) -> str | None:
    """The ARN of the key `init` made for this bucket, if it is there and usable."""
    found = kms_api.describe_key(kms, disk_key_alias(bucket))
    if found is None or found.get("KeyState") in ("PendingDeletion", "Disabled"):
        return None
    return found["Arn"]


def delete_disk_key(kms, bucket: str) -> Change:
    alias = disk_key_alias(bucket)
    found = kms_api.describe_key(kms, alias)
    if found is None:
        return Change(f"kms key {alias}", "absent")
    kms_api.delete_alias(kms, alias)
    if found.get("KeyState") != "PendingDeletion":
        kms_api.schedule_key_deletion(kms, found["KeyId"], KEY_DELETION_DAYS)
    return Change(f"kms key {alias}", "deleted", f"deletion scheduled in {KEY_DELETION_DAYS} days (KMS minimum)")


# --- the security configuration ----------------------------------------------------------------------------


def ensure_security_configuration(emr, bucket: str, disk_key_arn: str) -> tuple[Change, str]:
    name = configuration_name(bucket)
    wanted = security_configuration(disk_key_arn)
    current = emr_api.get_security_configuration(emr, name)
    if current is not None and same_policy(current, wanted):
        return Change(f"security configuration {name}", "unchanged", "disks encrypted with KMS"), name
    if current is not None:
        emr_api.delete_security_configuration(emr, name)
    emr_api.create_security_configuration(emr, name, wanted)
    return Change(f"security configuration {name}", "created" if current is None else "updated",
                  "local disks + EBS encrypted with KMS"), name


def delete_security_configuration(emr, bucket: str) -> Change:
    name = configuration_name(bucket)
    if emr_api.get_security_configuration(emr, name) is None:
        return Change(f"security configuration {name}", "absent")
    emr_api.delete_security_configuration(emr, name)
    return Change(f"security configuration {name}", "deleted")
