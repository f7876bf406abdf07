"""Pure parts of `fruits cloud`: region guard, names, policies, merging, cluster settings, prices."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fruits.cloud import bucket, cluster, pricing, regions, roles
from fruits.cloud.errors import BucketNameError, CloudUsageError, RegionError, translate
from fruits.cloud.waiting import Waits


@pytest.mark.parametrize("region", regions.EU_REGIONS)
def test_every_eu_region_is_accepted(region):
    assert regions.check_region(region.upper()) == region


def test_the_eu_regions_are_the_member_states_ones():
    assert set(regions.EU_REGIONS) == {"eu-west-1", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
                                       "eu-south-2"}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-4", "ca-central-1", "me-central-1", "", None, "eu",
                                    "eu-west-2", "eu-central-2"])
def test_other_regions_are_refused(region):
    with pytest.raises(RegionError, match="outside the EU"):
        regions.check_region(region)


def test_region_resolution_order():
    assert regions.resolve_region(None, None) == "eu-west-3"
    assert regions.resolve_region(None, "eu-north-1") == "eu-north-1"
    assert regions.resolve_region("eu-central-1", "us-east-1") == "eu-central-1"  # the flag wins
    with pytest.raises(RegionError):
        regions.resolve_region(None, "us-east-1")


@pytest.mark.parametrize("location, region", [(None, "us-east-1"), ("EU", "eu-west-1"), ("eu-west-3", "eu-west-3")])
def test_bucket_location_constraints(location, region):
    assert regions.bucket_location_to_region(location) == region


@pytest.mark.parametrize("name", ["fruits-data", "a.b.c", "abc", "x" * 63, "0fruits9"])
def test_good_bucket_names(name):
    assert bucket.validate_bucket_name(name) == name


@pytest.mark.parametrize("name", ["ab", "x" * 64, "Fruits", "fruits_data", "-fruits", "fruits-", "a..b", "a.-b",
                                  "10.0.0.1", "xn--fruits", "fruits-s3alias", ""])
def test_bad_bucket_names(name):
    with pytest.raises(BucketNameError):
        bucket.validate_bucket_name(name)


def test_our_policy_statement_is_merged_and_recognised_when_reformatted():
    ours = bucket.tls_only_statement("b-1")
    assert bucket.merged_policy(None, ours) == {"Version": "2012-10-17", "Statement": [ours]}
    # AWS may hand the policy back with lists reordered or one-element lists as strings: still "unchanged".
    reformatted = json.loads(json.dumps(ours))
    reformatted["Resource"] = list(reversed(reformatted["Resource"]))
    reformatted["Action"] = ["s3:*"]
    assert bucket.merged_policy({"Version": "2012-10-17", "Statement": [reformatted]}, ours) is None
    # A statement with our Sid but other content is replaced, others kept.
    theirs = {"Sid": "Theirs", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "x"}
    stale = {**ours, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    merged = bucket.merged_policy({"Version": "2012-10-17", "Statement": [theirs, stale]}, ours)
    assert merged["Statement"] == [theirs, ours]


def test_lifecycle_rules_are_merged_by_id():
    plan = bucket.BucketPlan("b-1", "eu-west-3")
    wanted = bucket.lifecycle_rules(plan)
    assert bucket.merged_lifecycle(wanted, wanted) is None
    old_prefix_style = [{**r, "Prefix": r["Filter"]["Prefix"]} for r in wanted]
    for rule in old_prefix_style:
        del rule["Filter"]
    assert bucket.merged_lifecycle(old_prefix_style, wanted) is None
    theirs = {"ID": "theirs", "Status": "Enabled", "Filter": {"Prefix": "a/"}, "Expiration": {"Days": 9}}
    changed = bucket.merged_lifecycle([theirs, {**wanted[0], "Expiration": {"Days": 99}}], wanted)
    assert changed == [theirs] + wanted


def test_instance_role_names_fit_iam_and_stay_distinct():
    assert roles.instance_role_name("fruits-data") == "fruits-emr-ec2-fruits-data"
    long_a, long_b = "a" * 60 + "-one", "a" * 60 + "-two"
    assert len(roles.instance_role_name(long_a)) <= 64
    assert roles.instance_role_name(long_a) != roles.instance_role_name(long_b)


def test_the_bucket_access_policy_names_that_bucket_only():
    policy = roles.bucket_access_policy("b-1")
    assert [s["Resource"] for s in policy["Statement"]] == ["arn:aws:s3:::b-1", "arn:aws:s3:::b-1/*"]
    with_key = roles.bucket_access_policy("b-1", "arn:aws:kms:eu-west-3:123456789012:key/k")
    assert with_key["Statement"][-1]["Resource"] == "arn:aws:kms:eu-west-3:123456789012:key/k"


def _spec(**changes):
    base = dict(bucket="b-1", region="eu-west-3", service_role="s", instance_profile="p",
                bootstrap_uri="s3://b-1/code/bootstrap.sh", wheel_uri="s3://b-1/code/w.whl")
    return cluster.ClusterSpec(**{**base, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"release": "emr-6.15.0"}, "older than EMR 7"),
    ({"release": "emr7"}, "bad --release"),
    ({"instance_type": "xlarge"}, "bad --instance-type"),
    ({"core_nodes": 101}, "bad --core-nodes"),
    ({"idle_timeout": 59}, "bad --idle-timeout"),
    ({"idle_timeout": 604801}, "bad --idle-timeout"),
])
def test_cluster_settings_are_checked(changes, message):
    with pytest.raises(CloudUsageError, match=message):
        _spec(**changes).validated()


def test_a_cluster_without_core_nodes_has_one_instance_group():
    request = cluster.run_job_flow_request(_spec(core_nodes=0))
    assert [g["InstanceRole"] for g in request["Instances"]["InstanceGroups"]] == ["MASTER"]
    assert "Steps" not in request and "Ec2KeyName" not in request["Instances"]


def test_node_prices_scale_with_the_size():
    xlarge = pricing.node_price("m5.xlarge", "eu-west-3")
    double = pricing.node_price("m5.2xlarge", "eu-west-3")
    assert xlarge.per_hour == pytest.approx(0.272)
    assert double.per_hour == pytest.approx(2 * xlarge.per_hour)
    assert pricing.node_price("p4d.24xlarge", "eu-west-3") is None
    assert pricing.node_price("m5.xlarge", "us-east-1") is None
    assert pricing.hourly_cost({"m5.xlarge": 3}, "eu-west-3") == pytest.approx(0.816)
    assert pricing.hourly_cost({"m5.xlarge": 1, "x1.metal": 1}, "eu-west-3") is None
    assert all(pricing.node_price(t, r) for t in pricing.known_instance_types() for r in regions.EU_REGIONS)


def test_hours_are_billed_with_a_one_minute_minimum():
    start = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert pricing.hours_between(start, start + dt.timedelta(seconds=5)) == pytest.approx(1 / 60)
    assert pricing.hours_between(start, start + dt.timedelta(hours=2, minutes=30)) == pytest.approx(2.5)
    assert pricing.hours_between(start.replace(tzinfo=None), start + dt.timedelta(hours=1)) == pytest.approx(1)


def test_waits_turn_into_waiter_configs():
    assert Waits().config(default_delay=30, max_wait_s=3600) == {"Delay": 30, "MaxAttempts": 120}
    assert Waits(delay=0).config(default_delay=30, max_wait_s=60) == {"Delay": 0, "MaxAttempts": 60}
    assert Waits(delay=7).config(default_delay=30, max_wait_s=10) == {"Delay": 7, "MaxAttempts": 1}


def test_unknown_exceptions_are_not_translated():
    assert translate(ValueError("x")) is None


def test_the_cluster_price_counts_ebs_and_public_ipv4():
    price = pricing.cluster_price("m5.xlarge", 2, "eu-west-3", 30)
    assert price.nodes == pytest.approx(3 * 0.272)
    # 3 nodes x (30 GiB root + 64 GiB of EMR's default data volumes) x $0.116 per GB-month over 730 hours.
    assert price.ebs == pytest.approx(3 * 94 * 0.116 / 730)
    assert price.public_ipv4 == pytest.approx(3 * 0.005)
    assert pricing.cluster_hourly_cost("m5.xlarge", 2, "eu-west-3", 30) == pytest.approx(price.per_hour)
    bigger = pricing.cluster_price("m5.2xlarge", 2, "eu-west-3", 30)
    assert bigger.ebs > price.ebs and bigger.public_ipv4 == price.public_ipv4
    assert pricing.cluster_price("x1.metal", 2, "eu-west-3", 30) is None
    assert "2025" in pricing.PRICES_AS_OF and "aws.amazon.com/ebs/pricing" in pricing.__doc__


def test_spot_core_nodes_and_the_root_volume_reach_run_job_flow():
    request = cluster.run_job_flow_request(_spec(spot_core=True, root_volume_gib=50, subnet_id="subnet-0abc1234"))
    markets = {g["InstanceRole"]: g["Market"] for g in request["Instances"]["InstanceGroups"]}
    assert markets == {"MASTER": "ON_DEMAND", "CORE": "SPOT"}
    assert "BidPrice" not in request["Instances"]["InstanceGroups"][1]  # capped at the On-Demand price
    assert request["EbsRootVolumeSize"] == 50 and request["Instances"]["Ec2SubnetId"] == "subnet-0abc1234"
