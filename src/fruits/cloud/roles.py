"""The two IAM roles an EMR cluster needs, created when missing, and scoped to one bucket.

- The service role (assumed by EMR itself to launch the instances) gets AWS's scoped managed policy
  `AmazonEMRServicePolicy_v2`, which only acts on resources tagged for-use-with-amazon-emr-managed-policies=true
  (the cluster carries that tag, EMR propagates it; `network` tags the subnet and VPC). That policy lets the role
  pass `role/EMR_EC2_DefaultRole` to EC2 and no other role, so each bucket adds one inline policy to it,
  `fruits-pass-<instance role>`: iam:PassRole on that bucket's instance role only, to ec2.amazonaws.com only
  (and, with a disk key, the KMS rights EBS encryption needs). `destroy` removes it with the instance role.
- The instance role (assumed by every node: Spark reading photos and writing outputs, logs going to S3) gets an
  inline policy that reaches bucket B only (and B's KMS key when the bucket uses SSE-KMS). AWS's old
  `AmazonElasticMapReduceforEC2Role` (s3:* on every bucket, and more) is deliberately not used.
  EMR requires the instance profile to have the same name as the role.
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import iam as iam_api
from .changes import Change
from .policydoc import same_policy
from .waiting import DEFAULT_WAITS, Waits

SERVICE_ROLE = "fruits-emr-service-role"
SERVICE_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
INSTANCE_POLICY_NAME = "fruits-bucket-access"
# `up --notebook`: the nodes register with SSM Session Manager, the only way in (a port forward, no open port).
SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
TAGS = {"project": "fruits"}


def instance_role_name(bucket: str) -> str:
    """One instance role per bucket, so its policy can name that bucket only (IAM names: 64 characters)."""
    name = f"fruits-emr-ec2-{bucket}"
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(bucket.encode()).hexdigest()[:8]
    return f"fruits-emr-ec2-{bucket[:39]}-{digest}"


def service_trust_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "elasticmapreduce.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def instance_trust_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def pass_role_policy_name(bucket: str) -> str:
    """The inline policy of the service role for one bucket (IAM policy names: 128 characters)."""
    return f"fruits-pass-{instance_role_name(bucket)}"


# What EMR needs on a customer managed key to encrypt EBS volumes (EMR management guide, "Enabling EBS
# encryption by providing additional permissions for KMS keys"): the service role uses the key and lets EC2
# create grants on it, only for AWS resources.
_KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
_KEY_GRANTS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]


def service_inline_policy(instance_role_arn: str, disk_key_arn: str | None = None) -> dict[str, Any]:
    """What AmazonEMRServicePolicy_v2 lacks for our cluster: passing our instance role to EC2 (and the disk key)."""
    statements: list[dict[str, Any]] = [
        {"Sid": "PassTheInstanceRoleToEc2", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": instance_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
    ]
    if disk_key_arn:
        statements += [
            {"Sid": "UseTheDiskKey", "Effect": "Allow", "Action": _KEY_USE, "Resource": disk_key_arn},
            {"Sid": "LetEc2UseTheDiskKey", "Effect": "Allow", "Action": _KEY_GRANTS, "Resource": disk_key_arn,
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def bucket_access_policy(
    bucket: str, kms_key_arn: str | None = None, disk_key_arn: str | None = None
) -> dict[str, Any]:
    """What the cluster's nodes may do: list, read and write bucket B (photos, code, outputs, logs), nothing else."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ListTheBucket", "Effect": "Allow",
         "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "ReadWriteTheBucket", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]
    if kms_key_arn:
        statements.append({"Sid": "UseTheBucketKey", "Effect": "Allow",
                           "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": kms_key_arn})
    if disk_key_arn:  # the nodes encrypt their local disks with it (EMR local disk encryption)
        statements.append({"Sid": "UseTheDiskKey", "Effect": "Allow", "Action": _KEY_USE, "Resource": disk_key_arn})
    return {"Version": "2012-10-17", "Statement": statements}


def _ensure_role(iam, name: str, trust: dict[str, Any], description: str, waits: Waits) -> tuple[Change, str]:
    """The role's Change and its ARN."""
    role = iam_api.get_role(iam, name)
    if role is None:
        created = iam_api.create_role(iam, name, trust, description, TAGS)
        if waits.enabled:  # IAM is eventually consistent: EMR may not see a role created a second ago
            iam_api.wait_role_exists(iam, name, waits.config(default_delay=2, max_wait_s=60))
        return Change(f"role {name}", "created", description), created["Arn"]
    if not same_policy(role.get("AssumeRolePolicyDocument"), trust):
        iam_api.update_trust_policy(iam, name, trust)
        return Change(f"role {name}", "updated", "trust policy reset"), role["Arn"]
    return Change(f"role {name}", "unchanged", description), role["Arn"]


def _ensure_attached(iam, role: str, policy_arn: str) -> Change:
    if policy_arn in iam_api.attached_policy_arns(iam, role):
        return Change(f"policy {policy_arn.rsplit('/', 1)[-1]}", "unchanged", f"attached to {role}")
    iam_api.attach_role_policy(iam, role, policy_arn)
    return Change(f"policy {policy_arn.rsplit('/', 1)[-1]}", "created", f"attached to {role}")


def _ensure_inline(iam, role: str, name: str, document: dict[str, Any], detail: str) -> Change:
    current = iam_api.get_role_policy(iam, role, name)
    if current is not None and same_policy(current, document):
        return Change(f"policy {name}", "unchanged", detail)
    iam_api.put_role_policy(iam, role, name, document)
    return Change(f"policy {name}", "created" if current is None else "updated", detail)


def _ensure_profile(iam, name: str, waits: Waits) -> list[Change]:
    thing = f"instance profile {name}"
    profile = iam_api.get_instance_profile(iam, name)
    if profile is None:
        iam_api.create_instance_profile(iam, name, TAGS)
        if waits.enabled:
            iam_api.wait_instance_profile_exists(iam, name, waits.config(default_delay=2, max_wait_s=60))
        iam_api.add_role_to_instance_profile(iam, name, name)
        return [Change(thing, "created", f"holds role {name}")]
    if name not in [role["RoleName"] for role in profile.get("Roles", [])]:
        iam_api.add_role_to_instance_profile(iam, name, name)
        return [Change(thing, "updated", f"holds role {name}")]
    return [Change(thing, "unchanged", f"holds role {name}")]


def ensure_emr_roles(
    iam, bucket: str, kms_key_arn: str | None = None, waits: Waits = DEFAULT_WAITS, disk_key_arn: str | None = None,
    ssm: bool = False,
) -> list[Change]:
    """Service role (with PassRole on our instance role), instance role, its bucket-scoped policy and its
    instance profile; each created if missing."""
    instance = instance_role_name(bucket)
    service_change, _ = _ensure_role(iam, SERVICE_ROLE, service_trust_policy(), "EMR service role of fruits", waits)
    instance_change, instance_arn = _ensure_role(iam, instance, instance_trust_policy(),
                                                 f"EMR nodes of fruits, bucket {bucket} only", waits)
    key_note = " + the disk key" if disk_key_arn else ""
    changes = [
        service_change,
        _ensure_attached(iam, SERVICE_ROLE, SERVICE_POLICY_ARN),
        instance_change,
        _ensure_inline(iam, SERVICE_ROLE, pass_role_policy_name(bucket),
                       service_inline_policy(instance_arn, disk_key_arn),
                       f"iam:PassRole on {instance} to ec2.amazonaws.com only{key_note}"),
        _ensure_inline(iam, instance, INSTANCE_POLICY_NAME, bucket_access_policy(bucket, kms_key_arn, disk_key_arn),
                       f"s3 on arn:aws:s3:::{bucket} only" + (" + its KMS key" if kms_key_arn else "") + key_note),
    ]
    if ssm:
        changes.append(_ensure_attached(iam, instance, SSM_POLICY_ARN))
    return changes + _ensure_profile(iam, instance, waits)


def delete_instance_role(iam, bucket: str) -> list[Change]:
    """Undo the instance side of `ensure_emr_roles` for one bucket (the service role's PassRole policy for it,
    the profile, the inline policy, the role)."""
    name = instance_role_name(bucket)
    changes = []
    if iam_api.get_role(iam, SERVICE_ROLE) is not None:
        policy = pass_role_policy_name(bucket)
        if policy in iam_api.inline_policy_names(iam, SERVICE_ROLE):
            iam_api.delete_role_policy(iam, SERVICE_ROLE, policy)
            changes.append(Change(f"policy {policy}", "deleted", f"from {SERVICE_ROLE}"))
    profile = iam_api.get_instance_profile(iam, name)
    if profile is not None:
        for role in profile.get("Roles", []):
            iam_api.remove_role_from_instance_profile(iam, name, role["RoleName"])
        iam_api.delete_instance_profile(iam, name)
        changes.append(Change(f"instance profile {name}", "deleted"))
    else:
        changes.append(Change(f"instance profile {name}", "absent"))
    changes.append(_delete_role(iam, name))
    return changes


def delete_service_role(iam) -> Change:
    return _delete_role(iam, SERVICE_ROLE)


def _delete_role(iam, name: str) -> Change:
    if iam_api.get_role(iam, name) is None:
        return Change(f"role {name}", "absent")
    for arn in iam_api.attached_policy_arns(iam, name):
        iam_api.detach_role_policy(iam, name, arn)
    for policy in iam_api.inline_policy_names(iam, name):
        iam_api.delete_role_policy(iam, name, policy)
    iam_api.delete_role(iam, name)
    return Change(f"role {name}", "deleted")
