"""Approximate EMR cost: a small price table, dated, for estimates only.

APPROXIMATE. USD, on-demand, Linux, without VAT, read from the public AWS price pages in PRICES_AS_OF:
Amazon EC2 on-demand (https://aws.amazon.com/ec2/pricing/on-demand/), Amazon EMR
(https://aws.amazon.com/emr/pricing/), Amazon EBS (https://aws.amazon.com/ebs/pricing/, gp2/gp3 per GB-month)
and public IPv4 addresses (https://aws.amazon.com/vpc/pricing/, $0.005 per IP-hour since February 2024, every
node of a public subnet has one). S3 storage and requests and data transfer are not counted (cents for a demo).
Spot core nodes are priced at the On-Demand price: EMR caps the Spot price there, so it is an upper bound.
Prices change: check the pages above before budgeting.

An EMR node costs the EC2 instance plus the EMR surcharge. Within a family the price doubles with the size
(xlarge -> 2xlarge -> 4xlarge), so the table holds the xlarge price of each family per region.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

PRICES_AS_OF = "2025-06"

# EC2 on-demand USD/hour of the .xlarge size, per family and EU region (approximate).
_EC2_XLARGE = {
    "m5": {"eu-west-1": 0.214, "eu-west-2": 0.222, "eu-west-3": 0.224, "eu-central-1": 0.230,
           "eu-central-2": 0.253, "eu-north-1": 0.204, "eu-south-1": 0.224, "eu-south-2": 0.214},
    "m6i": {"eu-west-1": 0.214, "eu-west-2": 0.222, "eu-west-3": 0.224, "eu-central-1": 0.230,
            "eu-central-2": 0.253, "eu-north-1": 0.204, "eu-south-1": 0.224, "eu-south-2": 0.214},
    "r5": {"eu-west-1": 0.282, "eu-west-2": 0.296, "eu-west-3": 0.296, "eu-central-1": 0.304,
           "eu-central-2": 0.334, "eu-north-1": 0.269, "eu-south-1": 0.296, "eu-south-2": 0.282},
    "c5": {"eu-west-1": 0.192, "eu-west-2": 0.202, "eu-west-3": 0.202, "eu-central-1": 0.194,
           "eu-central-2": 0.213, "eu-north-1": 0.182, "eu-south-1": 0.200, "eu-south-2": 0.192},
}
# EMR surcharge USD/hour of the .xlarge size (the same in these regions).
_EMR_XLARGE = {"m5": 0.048, "m6i": 0.048, "r5": 0.063, "c5": 0.048}
_SIZE_FACTOR = {"xlarge": 1, "2xlarge": 2, "4xlarge": 4, "8xlarge": 8}
# EBS USD per GB-month (general purpose SSD), per region, approximate.
_EBS_GB_MONTH = {"eu-west-1": 0.11, "eu-west-3": 0.116, "eu-central-1": 0.119, "eu-north-1": 0.1045,
                 "eu-south-1": 0.116, "eu-south-2": 0.11, "eu-west-2": 0.116, "eu-central-2": 0.132}
HOURS_PER_MONTH = 730
PUBLIC_IPV4_PER_HOUR = 0.005
# EBS storage EMR attaches to each node besides the root volume (EMR's default for the xlarge sizes of these
# families: 2 x 32 GiB; it doubles with the size). See "Default Amazon EBS storage for instances" in the EMR guide.
_DEFAULT_EBS_GIB_XLARGE = 64


@dataclass(frozen=True)
class NodePrice:
    instance_type: str
    region: str
    ec2: float
    emr: float

    @property
    def per_hour(self) -> float:
        return self.ec2 + self.emr


def node_price(instance_type: str, region: str) -> NodePrice | None:
    """Price of one EMR node of that type in that region, or None when the table does not know it."""
    family, _, size = instance_type.partition(".")
    factor = _SIZE_FACTOR.get(size)
    ec2 = _EC2_XLARGE.get(family, {}).get(region)
    if factor is None or ec2 is None:
        return None
    return NodePrice(instance_type, region, round(ec2 * factor, 4), round(_EMR_XLARGE[family] * factor, 4))


def known_instance_types() -> list[str]:
    return [f"{family}.{size}" for family in _EC2_XLARGE for size in _SIZE_FACTOR]


def hourly_cost(nodes: dict[str, int], region: str) -> float | None:
    """USD per hour of a cluster with `nodes` ({instance type: count}); None if a type is not in the table."""
    if not nodes:
        return None
    total = 0.0
    for instance_type, count in nodes.items():
        price = node_price(instance_type, region)
        if price is None:
            return None
        total += price.per_hour * count
    return total


def ebs_gib(instance_type: str, root_volume_gib: int) -> int | None:
    """GiB of EBS one node carries: the root volume plus EMR's default data volumes."""
    family, _, size = instance_type.partition(".")
    factor = _SIZE_FACTOR.get(size)
    if factor is None or family not in _EC2_XLARGE:
        return None
    return root_volume_gib + _DEFAULT_EBS_GIB_XLARGE * factor


@dataclass(frozen=True)
class ClusterPrice:
    """USD per hour of a cluster, by item."""

    nodes: float
    ebs: float
    public_ipv4: float

    @property
    def per_hour(self) -> float:
        return self.nodes + self.ebs + self.public_ipv4


def cluster_price(instance_type: str, core_nodes: int, region: str, root_volume_gib: int) -> ClusterPrice | None:
    count = 1 + core_nodes
    nodes = hourly_cost({instance_type: count}, region)
    gib = ebs_gib(instance_type, root_volume_gib)
    if nodes is None or gib is None or region not in _EBS_GB_MONTH:
        return None
    ebs = count * gib * _EBS_GB_MONTH[region] / HOURS_PER_MONTH
    return ClusterPrice(nodes=nodes, ebs=ebs, public_ipv4=count * PUBLIC_IPV4_PER_HOUR)


def cluster_hourly_cost(
    instance_type: str, core_nodes: int, region: str, root_volume_gib: int, spot_core: bool = False
) -> float | None:
    """USD per hour of a fruits cluster: nodes (EC2 + EMR), EBS, public IPv4 (Spot priced as On-Demand)."""
    price = cluster_price(instance_type, core_nodes, region, root_volume_gib)
    return None if price is None else price.per_hour


def hours_between(start: _dt.datetime, end: _dt.datetime | None = None) -> float:
    end = end or _dt.datetime.now(_dt.timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=_dt.timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=_dt.timezone.utc)
    # EMR bills per second with a one-minute minimum.
    return max(60.0, (end - start).total_seconds()) / 3600


def describe_estimate(per_hour: float | None) -> str:
    if per_hour is None:
        return "unknown (instance type not in the price table)"
    return (f"~${per_hour:.2f}/hour (approximate, on-demand prices of {PRICES_AS_OF}: EC2 + EMR + EBS + public IPv4, "
            "without S3)")
