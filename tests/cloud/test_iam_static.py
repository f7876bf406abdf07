"""IAM, statically: would EMR be allowed to start our cluster?

With the real text of AWS's `AmazonEMRServicePolicy_v2` (moto ships AWS's managed policies, as published by AWS;
loaded from the installed moto package, not copied here) plus the inline policies `up` puts on the service role
(read back from moto's IAM), a small evaluator (tests/cloud/policy_eval.py) answers the questions EMR's own
validation asks when RunJobFlow arrives:

- may the service role pass our instance role to EC2 (iam:PassRole, iam:PassedToService = ec2.amazonaws.com)?
- may it launch instances into the subnet RunJobFlow names, and create its security groups in that subnet's VPC
  (aws:ResourceTag/for-use-with-amazon-emr-managed-policies = true on each)?

Before this was fixed, v2 alone let the service role pass only role/EMR_EC2_DefaultRole, and RunJobFlow named no
subnet (EMR picked one of the untagged default VPC): both tests failed.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import BUCKET, REGION
from .policy_eval import Request, Unsupported, allowed

V2_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
TAG = "for-use-with-amazon-emr-managed-policies"


def v2_document() -> dict:
    """AmazonEMRServicePolicy_v2 as AWS publishes it, from the managed-policy data inside the installed moto."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)["AmazonEMRServicePolicy_v2"]["Document"]


def _document(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def service_role_policies(iam, role: str = "fruits-emr-service-role") -> list[dict]:
    """Every policy of the role: attached managed ones (the real text of v2) and inline ones (as stored)."""
    policies = []
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        assert attached["PolicyArn"] == V2_ARN, f"unexpected managed policy {attached['PolicyArn']}"
        policies.append(v2_document())
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        policies.append(_document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]))
    return policies


def _tag_context(resource: dict) -> dict[str, str]:
    return {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in resource.get("Tags", [])}


def _up(cli, wheel) -> str:
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")
    assert result.code == 0, result.err
    return re.search(r"\b(j-[A-Z0-9]+)\b", result.out).group(1)


def test_the_service_role_may_pass_our_instance_role_to_ec2_and_nothing_more(cli, boto, ready_bucket, wheel):
    _up(cli, wheel)
    iam = boto("iam")
    policies = service_role_policies(iam)
    instance_arn = iam.get_role(RoleName=f"fruits-emr-ec2-{BUCKET}")["Role"]["Arn"]
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}

    assert allowed(policies, Request("iam:PassRole", instance_arn, to_ec2))
    # v2 alone does not allow it: that was blocker 1.
    assert not allowed([v2_document()], Request("iam:PassRole", instance_arn, to_ec2))
    # Only to EC2, only that role.
    assert not allowed(policies, Request("iam:PassRole", instance_arn, {"iam:PassedToService": "lambda.amazonaws.com"}))
    assert not allowed(policies, Request("iam:PassRole", instance_arn, {}))
    other = instance_arn.replace(f"fruits-emr-ec2-{BUCKET}", "fruits-emr-ec2-someone-else")
    assert not allowed(policies, Request("iam:PassRole", other, to_ec2))
    assert not allowed(policies, Request("iam:PassRole", instance_arn.replace(f"fruits-emr-ec2-{BUCKET}", "admin"),
                                         to_ec2))


def test_run_job_flow_names_a_subnet_that_the_v2_policy_lets_emr_use(cli, boto, ready_bucket, wheel):
    cluster_id = _up(cli, wheel)
    cluster = boto("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    subnet_id = cluster["Ec2InstanceAttributes"].get("Ec2SubnetId")
    assert subnet_id, "RunJobFlow names no subnet: EMR would pick one of the untagged default VPC"
    ec2 = boto("ec2")
    [subnet] = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    [vpc] = ec2.describe_vpcs(VpcIds=[subnet["VpcId"]])["Vpcs"]
    policies = service_role_policies(boto("iam"))
    account = "123456789012"

    for action in ("ec2:RunInstances", "ec2:CreateNetworkInterface"):
        request = Request(action, f"arn:aws:ec2:{REGION}:{account}:subnet/{subnet_id}", _tag_context(subnet))
        assert allowed(policies, request), (action, subnet.get("Tags"))
    request = Request("ec2:CreateSecurityGroup", f"arn:aws:ec2:{REGION}:{account}:vpc/{vpc['VpcId']}",
                      _tag_context(vpc))
    assert allowed(policies, request), vpc.get("Tags")


def test_an_untagged_subnet_or_vpc_would_be_refused_by_v2(cli, boto, aws):
    """The evaluator's other side on the same real policy: without the tag, EMR may not launch there."""
    subnet = "arn:aws:ec2:eu-west-3:123456789012:subnet/subnet-0123456789abcdef0"
    vpc = "arn:aws:ec2:eu-west-3:123456789012:vpc/vpc-0123456789abcdef0"
    v2 = [v2_document()]

    assert not allowed(v2, Request("ec2:RunInstances", subnet, {}))
    assert not allowed(v2, Request("ec2:RunInstances", subnet, {f"aws:ResourceTag/{TAG}": "false"}))
    assert not allowed(v2, Request("ec2:CreateSecurityGroup", vpc, {"aws:ResourceTag/project": "fruits"}))
    assert allowed(v2, Request("ec2:RunInstances", subnet, {f"aws:ResourceTag/{TAG}": "true"}))
    assert allowed(v2, Request("iam:PassRole", "arn:aws:iam::123456789012:role/EMR_EC2_DefaultRole",
                               {"iam:PassedToService": "ec2.amazonaws.com"}))


# --- the evaluator itself ---------------------------------------------------------------------------------


_POLICY = {"Statement": [
    {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
    {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "arn:aws:iam::*:role/r-?",
     "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}},
    {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"},
]}


@pytest.mark.parametrize("request_, expected", [
    (Request("s3:GetObject", "arn:aws:s3:::b/x"), True),
    (Request("S3:getobject", "arn:aws:s3:::b/x"), True),  # actions are case-insensitive
    (Request("s3:PutObject", "arn:aws:s3:::b/x"), False),
    (Request("s3:GetObject", "arn:aws:s3:::c/x"), False),
    (Request("s3:GetObject", "arn:aws:s3:::b/secret/k"), False),  # an explicit deny wins
    (Request("iam:PassRole", "arn:aws:iam::1:role/r-1", {"iam:PassedToService": "ec2.amazonaws.com.cn"}), True),
    (Request("iam:PassRole", "arn:aws:iam::1:role/r-12", {"iam:PassedToService": "ec2.amazonaws.com"}), False),
    (Request("iam:PassRole", "arn:aws:iam::1:role/r-1", {"iam:PassedToService": "emr.amazonaws.com"}), False),
    (Request("iam:PassRole", "arn:aws:iam::1:role/r-1", {}), False),  # a missing key fails the condition
])
def test_the_evaluator(request_, expected):
    assert allowed([_POLICY], request_) is expected


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}},
])
def test_the_evaluator_refuses_what_it_does_not_understand(statement):
    with pytest.raises(Unsupported):
        allowed([{"Statement": [statement]}], Request("s3:GetObject", "arn:aws:s3:::b/x", {"aws:SourceIp": "1.2.3.4"}))


def test_destroy_removes_the_pass_role_policy_of_its_bucket_only(cli, boto, aws, wheel):
    other = "fruits-other-bucket"
    for bucket in (BUCKET, other):
        assert cli("cloud", "init", "--bucket", bucket, "--poll", "0").code == 0
        up = cli("cloud", "up", "--bucket", bucket, "--wheel", str(wheel), "--poll", "0")
        assert up.code == 0, up.err
        assert cli("cloud", "down", re.search(r"\b(j-[A-Z0-9]+)\b", up.out).group(1), "--poll", "0").code == 0
    iam = boto("iam")
    assert sorted(iam.list_role_policies(RoleName="fruits-emr-service-role")["PolicyNames"]) == [
        f"fruits-pass-fruits-emr-ec2-{other}", f"fruits-pass-fruits-emr-ec2-{BUCKET}"]

    result = cli("cloud", "destroy", "--bucket", BUCKET)

    assert result.code == 0, result.err
    assert iam.list_role_policies(RoleName="fruits-emr-service-role")["PolicyNames"] == [
        f"fruits-pass-fruits-emr-ec2-{other}"]
    policies = service_role_policies(iam)
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    assert allowed(policies, Request("iam:PassRole", f"arn:aws:iam::123456789012:role/fruits-emr-ec2-{other}", to_ec2))
    assert not allowed(policies, Request("iam:PassRole", f"arn:aws:iam::123456789012:role/fruits-emr-ec2-{BUCKET}",
                                         to_ec2))
