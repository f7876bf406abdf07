"""`fruits cloud doctor` on the moto server (STS, EC2, EMR, KMS, S3), with Stubber for what moto lacks: IAM's policy
simulator (SimulatePrincipalPolicy is not implemented) and Service Quotas."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from fruits.cloud.doctor import EMR_SERVICE_LINKED_ROLE, NEEDED_ACTIONS, VCPU_QUOTA_CODE

from .conftest import BUCKET, REGION



def _role(name: str) -> dict:
    import datetime as dt

    return {"Role": {"RoleName": name, "Path": "/aws-service-role/", "RoleId": "AROAEXAMPLE0000000001",
                     "Arn": f"arn:aws:iam::123456789012:role/aws-service-role/{name}",
                     "CreateDate": dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)}}


@pytest.fixture
def stubs(monkeypatch, aws):
    """The CLI's IAM and Service Quotas clients, stubbed; everything else goes to moto."""
    from fruits.cli.cloud import clients as cli_cloud

    session = cli_cloud._session()
    made = {"iam": session.client("iam", region_name=REGION),
            "service-quotas": session.client("service-quotas", region_name=REGION)}
    original = cli_cloud.Aws.client
    monkeypatch.setattr(cli_cloud.Aws, "client", lambda self, service: made[service] if service in made
                        else original(self, service))
    with Stubber(made["iam"]) as iam, Stubber(made["service-quotas"]) as quotas:
        yield iam, quotas


def _simulation(iam, denied=(), error: str | None = None) -> None:
    if error:
        iam.add_client_error("simulate_principal_policy", service_error_code=error, http_status_code=403)
        return
    iam.add_response("simulate_principal_policy", {"EvaluationResults": [
        {"EvalActionName": a, "EvalDecision": "implicitDeny" if a in denied else "allowed"} for a in NEEDED_ACTIONS]},
        {"PolicySourceArn": "arn:aws:sts::123456789012:user/moto", "ActionNames": list(NEEDED_ACTIONS)})


def _linked_role(iam, present: bool = True) -> None:
    if present:
        iam.add_response("get_role", _role(EMR_SERVICE_LINKED_ROLE), {"RoleName": EMR_SERVICE_LINKED_ROLE})
    else:
        iam.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404)


def _quota(quotas, value: float) -> None:
    quotas.add_response("get_service_quota", {"Quota": {"QuotaCode": VCPU_QUOTA_CODE, "Value": value}},
                        {"ServiceCode": "ec2", "QuotaCode": VCPU_QUOTA_CODE})


def _block_public_access(boto) -> None:
    boto("emr").put_block_public_access_configuration(
        BlockPublicAccessConfiguration={"BlockPublicSecurityGroupRules": True})


def _lines(result) -> dict[str, str]:
    """{check name: its line} of the doctor's output."""
    found = {}
    for line in result.out.splitlines():
        status = line.split(" ", 1)[0]
        if status in ("pass", "fail", "unknown"):
            found[line[8:32].strip()] = line
    return found


def test_doctor_passes_in_a_ready_account(cli, boto, ready_bucket, stubs):
    iam, quotas = stubs
    _simulation(iam)
    _linked_role(iam)
    _quota(quotas, 32)
    _block_public_access(boto)

    result = cli("cloud", "doctor", "--region", REGION, "--bucket", BUCKET)

    assert result.code == 0, result.out + result.err
    lines = _lines(result)
    assert list(lines) == ["region", "credentials", "permissions", "subnet", "network tags",
                           "EMR service-linked role", "On-Demand vCPU quota", "EMR block public access",
                           "bucket hardening", "disk key"]
    assert all(line.startswith("pass ") for line in lines.values()), result.out
    assert "arn:aws:sts::123456789012:user/moto" in lines["credentials"]
    assert "needs 12 vCPUs (3 x m5.xlarge), the quota is 32" in lines["On-Demand vCPU quota"]
    assert "not tagged yet" in lines["network tags"]
    assert "no check failed" in result.out


@pytest.mark.parametrize("case, check, expected", [
    ("denied", "permissions", "fail    permissions              2 of"),
    ("quota", "On-Demand vCPU quota", "the quota is 8 -> request an increase of quota L-1216C47A"),
    ("no route", "subnet", "fail    subnet                   no subnet of the default VPC"),
    ("plain bucket", "bucket hardening", "lacks: Block Public Access, default encryption, TLS-only policy"),
    ("no bucket", "bucket", f"s3://{BUCKET} does not exist -> run `fruits cloud init"),
    ("bpa off", "EMR block public access", "fail    EMR block public access  off in this region"),
])
def test_each_failing_check_fails_the_doctor_with_its_fix(cli, boto, aws, stubs, case, check, expected):
    iam, quotas = stubs
    _simulation(iam, denied=("iam:PassRole", "ec2:CreateTags") if case == "denied" else ())
    _linked_role(iam)
    _quota(quotas, 8 if case == "quota" else 32)
    if case != "bpa off":
        _block_public_access(boto)
    if case == "plain bucket":
        boto("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    elif case != "no bucket":
        assert cli("cloud", "init", "--bucket", BUCKET, "--poll", "0").code == 0
    if case == "no route":
        ec2 = boto("ec2")
        [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        [main] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
        ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")

    result = cli("cloud", "doctor", "--bucket", BUCKET)

    assert result.code == 2, result.out + result.err
    lines = _lines(result)
    assert lines[check].startswith("fail "), result.out
    assert expected in lines[check], lines[check]
    failing = [check, "disk key"] if case == "plain bucket" else [check]  # no `init`: no disk key either
    assert [name for name, line in lines.items() if line.startswith("fail ")] == failing
    assert result.error_lines == [f"fruits: error: {len(failing)} check(s) failed ({', '.join(failing)}): fix them "
                                  "and run `fruits cloud doctor` again"]


def test_a_denied_simulation_and_a_missing_linked_role_are_unknown_not_failures(cli, boto, ready_bucket, stubs):
    iam, quotas = stubs
    _simulation(iam, error="AccessDenied")
    _linked_role(iam, present=False)
    quotas.add_client_error("get_service_quota", service_error_code="AccessDeniedException", http_status_code=403)
    _block_public_access(boto)

    result = cli("cloud", "doctor", "--bucket", BUCKET)

    assert result.code == 0, result.out + result.err
    lines = _lines(result)
    assert lines["permissions"].startswith("unknown permissions              could not check")
    assert "create-service-linked-role" in lines["EMR service-linked role"]
    assert lines["On-Demand vCPU quota"].startswith("unknown ")
    assert "(7 passed, 3 unknown)" in result.out


def test_without_credentials_the_doctor_says_so_and_stops(cli, aws, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = cli("cloud", "doctor")

    assert result.code == 2
    lines = _lines(result)
    assert list(lines) == ["region", "credentials"]
    assert "no AWS credentials found" in lines["credentials"] and "aws configure" in lines["credentials"]


def test_an_assumed_role_is_simulated_as_its_role():
    from fruits.cloud.doctor import policy_source_arn

    assert (policy_source_arn("arn:aws:sts::123456789012:assumed-role/Admin/me@example.com")
            == "arn:aws:iam::123456789012:role/Admin")
    assert policy_source_arn("arn:aws:iam::123456789012:user/me") == "arn:aws:iam::123456789012:user/me"


def test_an_unknown_is_one_line_whatever_the_error():
    from fruits.cloud.doctor import _unknown

    check = _unknown("permissions", ValueError("<!doctype html>\n<title>500</title>\n" + "x" * 500))

    assert "\n" not in check.line() and check.status == "unknown"
    assert check.detail.startswith("could not check (ValueError: <!doctype html> <title>500</title> xxx")
    assert len(check.detail) <= 180
