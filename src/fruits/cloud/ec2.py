"""EC2 calls, one function per API operation (VPCs, subnets, route tables, tags). The client is passed in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _not_found(exc: Exception) -> bool:
    code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
    return code.endswith(".NotFound") or code.endswith(".Malformed")


def default_vpc(ec2) -> dict[str, Any] | None:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}]).get("Vpcs", [])
    return vpcs[0] if vpcs else None


def get_vpc(ec2, vpc_id: str) -> dict[str, Any] | None:
    try:
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id]).get("Vpcs", [])
    except ec2.exceptions.ClientError as exc:
        if _not_found(exc):
            return None
        raise
    return vpcs[0] if vpcs else None


def get_subnet(ec2, subnet_id: str) -> dict[str, Any] | None:
    try:
        subnets = ec2.describe_subnets(SubnetIds=[subnet_id]).get("Subnets", [])
    except ec2.exceptions.ClientError as exc:
        if _not_found(exc):
            return None
        raise
    return subnets[0] if subnets else None


def subnets(ec2, vpc_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]):
        found += page.get("Subnets", [])
    return found


def route_tables(ec2, vpc_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_route_tables").paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]):
        found += page.get("RouteTables", [])
    return found


def create_tags(ec2, resource_ids: list[str], tags: Mapping[str, str]) -> None:
    ec2.create_tags(Resources=resource_ids, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def delete_tags(ec2, resource_ids: list[str], keys: list[str]) -> None:
    ec2.delete_tags(Resources=resource_ids, Tags=[{"Key": k} for k in keys])


def resources_tagged(ec2, key: str) -> list[tuple[str, str]]:
    """(kind, id) of the subnets and VPCs that carry tag `key`."""
    found = []
    for page in ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "tag-key", "Values": [key]}]):
        found += [("subnet", s["SubnetId"]) for s in page.get("Subnets", [])]
    for page in ec2.get_paginator("describe_vpcs").paginate(Filters=[{"Name": "tag-key", "Values": [key]}]):
        found += [("vpc", v["VpcId"]) for v in page.get("Vpcs", [])]
    return found
