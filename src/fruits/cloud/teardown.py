"""`fruits cloud destroy`: undo what `init` and `up` created for a bucket (the delete of every create).

The IAM side always goes (instance profile and role of the bucket, and the shared service role once no other
bucket's role is left). The bucket goes only when asked: every object version and delete marker is removed first
(versioning keeps them otherwise), which is also how an erasure request is honoured for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import emr as emr_api
from . import iam as iam_api
from . import s3 as s3_api
from .bucket import bucket_region
from .changes import Change
from .cluster import BUCKET_TAG
from .errors import AwsRequestError, BucketRegionError, ClusterStateError
from .network import untag_ours
from .roles import delete_instance_role, delete_service_role, instance_role_name
from .security import delete_disk_key, delete_security_configuration

_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass
class Destroyed:
    changes: list[Change] = field(default_factory=list)
    versions_deleted: int = 0


def clusters_using(emr, bucket: str) -> list[str]:
    """Active clusters started for this bucket (their fruits:bucket tag)."""
    found = []
    for summary in emr_api.list_active_clusters(emr):
        cluster = emr_api.describe_cluster(emr, summary["Id"])
        if any(t.get("Key") == BUCKET_TAG and t.get("Value") == bucket for t in cluster.get("Tags", [])):
            found.append(summary["Id"])
    return found


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many went."""
    deleted = 0
    batch: list[dict[str, str]] = []
    for version in s3_api.list_object_versions(s3, bucket):
        batch.append(version)
        if len(batch) == _BATCH:
            deleted += _delete_batch(s3, bucket, batch)
            batch = []
    if batch:
        deleted += _delete_batch(s3, bucket, batch)
    return deleted


def _delete_batch(s3, bucket: str, batch: list[dict[str, str]]) -> int:
    errors = s3_api.delete_object_versions(s3, bucket, batch)
    if errors:
        first = errors[0]
        raise AwsRequestError(f"could not delete {len(errors)} object(s) of {bucket}, e.g. {first.get('Key')}: "
                              f"{first.get('Code')} {first.get('Message', '')}".strip())
    return len(batch)


def destroy(s3, iam, emr, bucket: str, region: str, delete_bucket: bool = False, ec2=None, kms=None) -> Destroyed:
    active = clusters_using(emr, bucket)
    if active:
        raise ClusterStateError(
            f"cluster(s) {', '.join(active)} still use bucket {bucket}: stop them with `fruits cloud down` first"
        )
    result = Destroyed()
    result.changes += delete_instance_role(iam, bucket)
    others = [name for name in iam_api.role_names(iam, "fruits-emr-ec2-") if name != instance_role_name(bucket)]
    if emr is not None:
        result.changes.append(delete_security_configuration(emr, bucket))
    if kms is not None:
        result.changes += [delete_disk_key(kms, bucket)]
    if others:
        result.changes.append(Change("role fruits-emr-service-role", "kept", f"still used by {len(others)} bucket(s)"))
        result.changes.append(Change("subnet/VPC tags", "kept", f"still used by {len(others)} bucket(s)"))
    else:
        result.changes.append(delete_service_role(iam))
        if ec2 is not None:  # the last fruits bucket of the account: the tags fruits added go too
            result.changes += untag_ours(ec2)
    if delete_bucket:
        found = bucket_region(s3, bucket)
        if found is None:
            result.changes.append(Change(f"bucket {bucket}", "absent"))
        elif found != region:
            raise BucketRegionError(f"bucket {bucket} is in {found}, not {region}: pass --region {found}")
        else:
            result.versions_deleted = empty_bucket(s3, bucket)
            s3_api.delete_bucket(s3, bucket)
            result.changes.append(Change(f"bucket {bucket}", "deleted",
                                         f"{result.versions_deleted} object version(s) removed first"))
    return result
