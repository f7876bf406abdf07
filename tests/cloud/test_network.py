"""The subnet of `up`/`run` on the moto server: chosen (or given), tagged with its VPC before the cluster starts,
untagged by `destroy` only where fruits added the tag."""

from __future__ import annotations

import re

import pytest

from .conftest import BUCKET, REGION

TAG = "for-use-with-amazon-emr-managed-policies"
MARK = "fruits:tagged-for-emr"


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _default_network(ec2) -> tuple[dict, list[dict]]:
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    return vpc, sorted(subnets, key=lambda s: s["AvailabilityZone"])


def _up(cli, wheel, *extra):
    return cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", *extra)


def _cluster_subnet(boto, out: str) -> str:
    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", out).group(1)
    return boto("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]["Ec2InstanceAttributes"]["Ec2SubnetId"]


def test_up_chooses_a_default_subnet_with_an_internet_route_and_tags_it_and_its_vpc_only(cli, boto, ready_bucket,
                                                                                          wheel):
    ec2 = boto("ec2")
    vpc, subnets = _default_network(ec2)
    first = subnets[0]

    result = _up(cli, wheel)

    assert result.code == 0, result.err
    assert f"subnet {first['SubnetId']} ({first['AvailabilityZone']}, VPC {vpc['VpcId']}), chosen" in result.out
    assert _cluster_subnet(boto, result.out) == first["SubnetId"]
    _, after = _default_network(ec2)
    tagged = [s["SubnetId"] for s in after if _tags(s).get(TAG) == "true"]
    assert tagged == [first["SubnetId"]]  # only the subnet used, not its neighbours
    assert _tags(after[0]) == {TAG: "true", MARK: "true"}
    [vpc_after] = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert _tags(vpc_after) == {TAG: "true", MARK: "true"}


def test_a_given_subnet_is_used_and_an_existing_tag_is_left_as_the_users(cli, boto, ready_bucket, wheel):
    ec2 = boto("ec2")
    vpc, subnets = _default_network(ec2)
    chosen = subnets[1]["SubnetId"]
    ec2.create_tags(Resources=[chosen], Tags=[{"Key": TAG, "Value": "true"}])  # tagged by the user before

    result = _up(cli, wheel, "--subnet", chosen)

    assert result.code == 0, result.err
    assert f"subnet {chosen} " in result.out and "given with --subnet" in result.out
    assert _cluster_subnet(boto, result.out) == chosen
    [subnet] = ec2.describe_subnets(SubnetIds=[chosen])["Subnets"]
    assert _tags(subnet) == {TAG: "true"}  # no mark of ours: not ours to remove
    [vpc_after] = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert _tags(vpc_after) == {TAG: "true", MARK: "true"}

    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", result.out).group(1)
    assert cli("cloud", "down", cluster_id, "--poll", "0").code == 0
    destroyed = cli("cloud", "destroy", "--bucket", BUCKET)
    assert destroyed.code == 0, destroyed.err
    [subnet] = ec2.describe_subnets(SubnetIds=[chosen])["Subnets"]
    assert _tags(subnet) == {TAG: "true"}  # the user's tag stays
    [vpc_after] = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert _tags(vpc_after) == {}  # ours goes
    assert f"vpc {vpc['VpcId']}" in destroyed.out


def test_destroy_removes_the_tags_fruits_added(cli, boto, ready_bucket, wheel):
    ec2 = boto("ec2")
    result = _up(cli, wheel)
    assert result.code == 0, result.err
    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", result.out).group(1)
    assert cli("cloud", "down", cluster_id, "--poll", "0").code == 0

    destroyed = cli("cloud", "destroy", "--bucket", BUCKET)

    assert destroyed.code == 0, destroyed.err
    vpc, subnets = _default_network(ec2)
    assert all(_tags(s) == {} for s in subnets) and _tags(vpc) == {}


def test_no_default_vpc_is_one_clear_line(cli, boto, ready_bucket, wheel):
    ec2 = boto("ec2")
    vpc, subnets = _default_network(ec2)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for gateway in ec2.describe_internet_gateways()["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc["VpcId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])

    result = _up(cli, wheel)

    assert result.code == 2 and len(result.error_lines) == 1, result.err
    assert f"no default VPC in {REGION}" in result.err and "--subnet" in result.err
    assert boto("emr").list_clusters()["Clusters"] == []


def test_a_default_vpc_without_internet_route_is_one_clear_line(cli, boto, ready_bucket, wheel):
    ec2 = boto("ec2")
    vpc, _ = _default_network(ec2)
    [main] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")

    result = _up(cli, wheel)

    assert result.code == 2 and len(result.error_lines) == 1, result.err
    assert "has a route 0.0.0.0/0 to an internet gateway" in result.err
    assert boto("emr").list_clusters()["Clusters"] == []
    assert all(_tags(s) == {} for s in _default_network(ec2)[1])  # nothing tagged on the way out


def test_a_subnet_of_its_own_route_table_without_internet_is_refused(cli, boto, ready_bucket, wheel):
    ec2 = boto("ec2")
    vpc, subnets = _default_network(ec2)
    private = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=private, SubnetId=subnets[0]["SubnetId"])

    refused = _up(cli, wheel, "--subnet", subnets[0]["SubnetId"])
    chosen = _up(cli, wheel)  # the default choice skips it: the next zone's subnet uses the main table

    assert refused.code == 2 and "has no route 0.0.0.0/0 to an internet gateway" in refused.err
    assert chosen.code == 0, chosen.err
    assert _cluster_subnet(boto, chosen.out) == subnets[1]["SubnetId"]


@pytest.mark.parametrize("subnet, expected", [
    ("subnet-0123456789abcdef0", f"subnet subnet-0123456789abcdef0 not found in {REGION}"),
    ("sn-1", "bad --subnet 'sn-1'"),
])
def test_an_unknown_or_malformed_subnet_is_one_clear_line(cli, boto, ready_bucket, wheel, subnet, expected):
    result = _up(cli, wheel, "--subnet", subnet)

    assert result.code == 2 and len(result.error_lines) == 1 and expected in result.err, result.err
    assert boto("emr").list_clusters()["Clusters"] == []
