"""IAM calls, one function per API operation. The client is passed in; NoSuchEntity becomes None.

Every create has its delete here (roles, inline policies, attachments, instance profiles).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def get_role(iam, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None


def create_role(
    iam, name: str, trust_policy: Mapping[str, Any], description: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    return iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust_policy),
        Description=description,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["Role"]


def wait_role_exists(iam, name: str, config: dict[str, int]) -> None:
    iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig=config)


def update_trust_policy(iam, name: str, trust_policy: Mapping[str, Any]) -> None:
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy))


def delete_role(iam, name: str) -> None:
    iam.delete_role(RoleName=name)


def attached_policy_arns(iam, role: str) -> list[str]:
    arns: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        arns += [policy["PolicyArn"] for policy in page.get("AttachedPolicies", [])]
    return arns


def attach_role_policy(iam, role: str, policy_arn: str) -> None:
    iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)


def detach_role_policy(iam, role: str, policy_arn: str) -> None:
    iam.detach_role_policy(RoleName=role, PolicyArn=policy_arn)


def inline_policy_names(iam, role: str) -> list[str]:
    names: list[str] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        names += page.get("PolicyNames", [])
    return names


def get_role_policy(iam, role: str, policy_name: str) -> dict[str, Any] | None:
    """The inline policy document (boto3 hands it back URL-decoded and parsed), or None."""
    try:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return json.loads(document) if isinstance(document, str) else document


def put_role_policy(iam, role: str, policy_name: str, document: Mapping[str, Any]) -> None:
    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document))


def delete_role_policy(iam, role: str, policy_name: str) -> None:
    iam.delete_role_policy(RoleName=role, PolicyName=policy_name)


def get_instance_profile(iam, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        return None


def create_instance_profile(iam, name: str, tags: Mapping[str, str]) -> None:
    iam.create_instance_profile(InstanceProfileName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def wait_instance_profile_exists(iam, name: str, config: dict[str, int]) -> None:
    iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=name, WaiterConfig=config)


def delete_instance_profile(iam, name: str) -> None:
    iam.delete_instance_profile(InstanceProfileName=name)


def add_role_to_instance_profile(iam, profile: str, role: str) -> None:
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)


def remove_role_from_instance_profile(iam, profile: str, role: str) -> None:
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)


def role_names(iam, prefix: str) -> list[str]:
    """Names of the account's roles that start with `prefix`."""
    names: list[str] = []
    for page in iam.get_paginator("list_roles").paginate():
        names += [role["RoleName"] for role in page.get("Roles", []) if role["RoleName"].startswith(prefix)]
    return names
