"""Approximate EMR cost: a small price table, dated, for estimates only.

APPROXIMATE. USD per instance-hour, on-demand, Linux, read from the public AWS price pages (Amazon EC2 on-demand
and Amazon EMR pricing) in PRICES_AS_OF. Prices change, taxes are not included, and EBS volumes, S3 storage and
requests, and data transfer are not counted. Check https://aws.amazon.com/emr/pricing/ before budgeting.

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
    return f"~${per_hour:.2f}/hour (approximate, on-demand prices of {PRICES_AS_OF}, EC2 + EMR, without EBS/S3)"
