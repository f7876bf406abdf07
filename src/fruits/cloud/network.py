"""Where the cluster's instances go: one subnet with a route to the internet, tagged for EMR's managed policy.

`AmazonEMRServicePolicy_v2` lets EMR launch instances only into subnets tagged
for-use-with-amazon-emr-managed-policies=true, and create its security groups only in VPCs with that tag. The
default VPC carries no such tag, so `up`/`run` tag the subnet they use and its VPC (only those two) before the
cluster starts. A second tag of ours, `fruits:tagged-for-emr`, records that the EMR tag was added by fruits
(and not there before), so `destroy` removes exactly what fruits added and nothing a user tagged themselves.

The nodes need the internet (the bootstrap installs python3.11 and the pinned wheels from PyPI, S3 is reached
through its public endpoint): the default choice is a subnet of the default VPC whose route table sends
0.0.0.0/0 to an internet gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import ec2 as ec2_api
from .changes import Change
from .cluster import MANAGED_POLICY_TAG
from .errors import NetworkError

OUR_MARK = "fruits:tagged-for-emr"  # present only where fruits added MANAGED_POLICY_TAG itself


@dataclass(frozen=True)
class Placement:
    """The subnet the cluster goes to, its VPC, and whether each already carries EMR's tag."""

    subnet_id: str
    vpc_id: str
    availability_zone: str
    chosen: bool  # True: picked by fruits (no --subnet)
    subnet_tagged: bool
    vpc_tagged: bool

    @property
    def ready(self) -> bool:
        return self.subnet_tagged and self.vpc_tagged


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", []) or []}


def has_emr_tag(resource: dict[str, Any]) -> bool:
    return _tags(resource).get(MANAGED_POLICY_TAG) == "true"


def internet_route(route_tables: list[dict[str, Any]], subnet_id: str, vpc_id: str) -> bool:
    """Does the route table of this subnet (its own association, else the VPC's main table) send 0.0.0.0/0 to an
    internet gateway?"""
    own = [t for t in route_tables if any(a.get("SubnetId") == subnet_id for a in t.get("Associations", []))]
    main = [t for t in route_tables if t.get("VpcId") == vpc_id
            and any(a.get("Main") for a in t.get("Associations", []))]
    for table in own or main:
        for route in table.get("Routes", []):
            if (route.get("DestinationCidrBlock") == "0.0.0.0/0" and str(route.get("GatewayId", "")).startswith("igw-")
                    and route.get("State", "active") == "active"):
                return True
    return False


def _placement(subnet: dict[str, Any], vpc: dict[str, Any], chosen: bool) -> Placement:
    return Placement(subnet["SubnetId"], subnet["VpcId"], subnet.get("AvailabilityZone", "?"), chosen,
                     has_emr_tag(subnet), has_emr_tag(vpc))


def find_placement(ec2, subnet_id: str | None = None) -> Placement:
    """The given subnet (it must exist and reach the internet), else the first subnet of the default VPC, by
    availability zone, that does; a NetworkError says what is missing and what to pass."""
    region = ec2.meta.region_name
    if subnet_id:
        subnet = ec2_api.get_subnet(ec2, subnet_id)
        if subnet is None:
            raise NetworkError(f"subnet {subnet_id} not found in {region}: list yours with "
                               f"`aws ec2 describe-subnets --region {region}`")
        vpc = ec2_api.get_vpc(ec2, subnet["VpcId"]) or {"VpcId": subnet["VpcId"]}
        if not internet_route(ec2_api.route_tables(ec2, subnet["VpcId"]), subnet_id, subnet["VpcId"]):
            raise NetworkError(f"subnet {subnet_id} has no route 0.0.0.0/0 to an internet gateway: the nodes "
                               "could not install Python packages; give a public subnet")
        return _placement(subnet, vpc, chosen=False)
    vpc = ec2_api.default_vpc(ec2)
    if vpc is None:
        raise NetworkError(f"no default VPC in {region}: create one (`aws ec2 create-default-vpc --region "
                           f"{region}`) or pass --subnet SUBNET (a subnet with a route to an internet gateway)")
    tables = ec2_api.route_tables(ec2, vpc["VpcId"])
    subnets = sorted(ec2_api.subnets(ec2, vpc["VpcId"]), key=lambda s: (s.get("AvailabilityZone", ""), s["SubnetId"]))
    for subnet in subnets:
        if internet_route(tables, subnet["SubnetId"], vpc["VpcId"]):
            return _placement(subnet, vpc, chosen=True)
    raise NetworkError(f"no subnet of the default VPC {vpc['VpcId']} in {region} has a route 0.0.0.0/0 to an "
                       "internet gateway: pass --subnet SUBNET (a public subnet)")


def tag_for_emr(ec2, placement: Placement) -> list[Change]:
    """Add EMR's tag (and our mark) to the subnet and its VPC where it is missing; leave tagged ones alone."""
    changes = []
    for kind, resource_id, tagged in (("subnet", placement.subnet_id, placement.subnet_tagged),
                                      ("vpc", placement.vpc_id, placement.vpc_tagged)):
        if tagged:
            changes.append(Change(f"{kind} {resource_id}", "unchanged", f"{MANAGED_POLICY_TAG}=true already"))
            continue
        ec2_api.create_tags(ec2, [resource_id], {MANAGED_POLICY_TAG: "true", OUR_MARK: "true"})
        changes.append(Change(f"{kind} {resource_id}", "updated", f"tagged {MANAGED_POLICY_TAG}=true"))
    return changes


def untag_ours(ec2) -> list[Change]:
    """Remove EMR's tag and our mark from every subnet and VPC of the region where fruits added them."""
    changes = []
    for kind, resource_id in ec2_api.resources_tagged(ec2, OUR_MARK):
        ec2_api.delete_tags(ec2, [resource_id], [MANAGED_POLICY_TAG, OUR_MARK])
        changes.append(Change(f"{kind} {resource_id}", "updated", f"tag {MANAGED_POLICY_TAG} removed"))
    return changes
