"""`--dry-run`: the exact requests as JSON on stdout, nothing sent (no server, no credentials needed)."""

from __future__ import annotations

import json

import pytest

from fruits.cloud.dryrun import DRY_RUN_SUBNET, DRY_RUN_VPC

from .conftest import BUCKET, REGION

# The autouse fixture leaves no credentials and points AWS_ENDPOINT_URL at a closed local port: any request
# actually sent would fail, so exit 0 proves nothing was sent.


def _ops(requests: list[dict]) -> list[str]:
    return [f"{r['service']}.{r['operation']}" for r in requests]


def _one(requests: list[dict], operation: str) -> dict:
    [found] = [r for r in requests if r["operation"] == operation]
    return found


def test_up_dry_run_shows_region_auto_termination_logs_and_scoped_iam(cli, wheel):
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--dry-run", "--idle-timeout", "900")

    assert result.code == 0, result.err
    requests = result.json()
    run = _one(requests, "RunJobFlow")
    assert run["service"] == "emr" and run["region"] == REGION
    assert run["params"]["AutoTerminationPolicy"] == {"IdleTimeout": 900}
    assert run["params"]["LogUri"] == f"s3://{BUCKET}/logs/"
    assert run["params"]["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    puts = {r["params"]["PolicyName"]: r["params"] for r in requests if r["operation"] == "PutRolePolicy"}
    policy = json.loads(puts["fruits-bucket-access"]["PolicyDocument"])
    resources = {r for s in policy["Statement"] if s["Sid"] != "UseTheDiskKey"
                 for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
    assert resources == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    # The PassRole policy on the service role: our instance role, to EC2 only.
    pass_role = puts[f"fruits-pass-fruits-emr-ec2-{BUCKET}"]
    assert pass_role["RoleName"] == "fruits-emr-service-role"
    [statement] = [s for s in json.loads(pass_role["PolicyDocument"])["Statement"] if s["Action"] == "iam:PassRole"]
    assert statement["Resource"].endswith(f":role/fruits-emr-ec2-{BUCKET}")
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    # The subnet: chosen, tagged with its VPC before RunJobFlow, named in RunJobFlow.
    tagged = [r["params"] for r in requests if r["operation"] == "CreateTags"]
    assert sorted(t for p in tagged for t in p["Resources"]) == sorted([DRY_RUN_SUBNET, DRY_RUN_VPC])
    assert all({"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"} in p["Tags"] for p in tagged)
    assert run["params"]["Instances"]["Ec2SubnetId"] == DRY_RUN_SUBNET
    assert _ops(requests).index("ec2.CreateTags") < _ops(requests).index("emr.RunJobFlow")
    # The security configuration: disks encrypted with the bucket's disk key.
    created = _one(requests, "CreateSecurityConfiguration")["params"]
    assert run["params"]["SecurityConfiguration"] == created["Name"] == f"fruits-{BUCKET}-disks"
    at_rest = json.loads(created["SecurityConfiguration"])["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]
    assert at_rest["LocalDiskEncryptionConfiguration"]["EnableEbsEncryption"] is True
    assert run["params"]["EbsRootVolumeSize"] == 30
    assert _one(requests, "AttachRolePolicy")["params"]["PolicyArn"].endswith("/AmazonEMRServicePolicy_v2")
    assert {r["region"] for r in requests if r["service"] in ("s3", "emr")} == {REGION}
    puts = [r["params"]["Key"] for r in requests if r["operation"] == "PutObject"]
    assert sorted(puts) == sorted([f"code/{wheel.name}", "code/bootstrap.sh", "code/fruits_emr_entry.py"])
    assert "none sent" in result.err


def test_run_dry_run_shows_the_transient_cluster_with_its_step(cli, wheel):
    result = cli("cloud", "run", "--bucket", BUCKET, "--wheel", str(wheel), "--dry-run",
                 "--input", f"s3://{BUCKET}/photos", "--output", f"s3://{BUCKET}/out", "--k", "10", "--incremental",
                 "--spot")

    assert result.code == 0, result.err
    run = _one(result.json(), "RunJobFlow")
    assert run["region"] == REGION
    assert run["params"]["AutoTerminationPolicy"] == {"IdleTimeout": 3600}
    assert run["params"]["LogUri"] == f"s3://{BUCKET}/logs/"
    assert run["params"]["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    [step] = run["params"]["Steps"]
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert step["HadoopJarStep"]["Args"][-7:] == [f"s3://{BUCKET}/photos", f"s3://{BUCKET}/out", "--master", "yarn",
                                                  "--k", "10", "--incremental"]
    assert run["params"]["Instances"]["Ec2SubnetId"] == DRY_RUN_SUBNET
    assert run["params"]["SecurityConfiguration"] == f"fruits-{BUCKET}-disks"
    markets = {g["InstanceRole"]: g["Market"] for g in run["params"]["Instances"]["InstanceGroups"]}
    assert markets == {"MASTER": "ON_DEMAND", "CORE": "SPOT"}  # --spot: core nodes only


def test_init_dry_run_shows_every_write_from_an_empty_account(cli):
    result = cli("cloud", "init", "--bucket", BUCKET, "--dry-run")

    assert result.code == 0, result.err
    requests = result.json()
    assert _ops(requests) == [
        "s3.GetBucketLocation", "s3.CreateBucket",
        "s3.GetBucketOwnershipControls", "s3.PutBucketOwnershipControls",
        "s3.GetPublicAccessBlock", "s3.PutPublicAccessBlock",
        "s3.GetBucketEncryption", "s3.PutBucketEncryption",
        "s3.GetBucketPolicy", "s3.PutBucketPolicy",
        "s3.GetBucketVersioning", "s3.PutBucketVersioning",
        "s3.GetBucketLifecycleConfiguration", "s3.PutBucketLifecycleConfiguration",
        "kms.DescribeKey", "kms.CreateKey", "kms.CreateAlias",  # the disk key of the clusters
    ]
    assert _one(requests, "CreateBucket")["params"]["CreateBucketConfiguration"] == {"LocationConstraint": REGION}
    policy = json.loads(_one(requests, "PutBucketPolicy")["params"]["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert result.out.count("\n") > 10 and "(dry run)" not in result.out  # stdout is only the JSON


@pytest.mark.parametrize("command, operation", [
    (["upload", "{photos}", f"s3://{BUCKET}/photos"], "PutObject"),
    (["submit", "j-ABCDEFGHIJKL", "--input", f"s3://{BUCKET}/p", "--output", f"s3://{BUCKET}/o"], "AddJobFlowSteps"),
    (["status"], "ListClusters"),
    (["logs", "j-ABCDEFGHIJKL"], "GetObject"),
    (["down", "j-ABCDEFGHIJKL"], "TerminateJobFlows"),
    (["destroy", "--bucket", BUCKET, "--delete-bucket"], "DeleteBucket"),
    (["doctor"], "GetCallerIdentity"),  # read-only: the dry run shows what it reads
])
def test_every_other_command_has_a_dry_run(cli, tmp_path, command, operation):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"jpeg")
    command = [part.replace("{photos}", str(tmp_path / "photos")) for part in command]

    result = cli("cloud", *command, "--dry-run")

    assert result.code == 0, result.err
    requests = result.json()
    assert operation in [r["operation"] for r in requests]
    assert all(r["region"] in (REGION, "aws-global") for r in requests)


def test_destroy_dry_run_shows_the_deletes(cli):
    result = cli("cloud", "destroy", "--bucket", BUCKET, "--dry-run")

    assert result.code == 0, result.err
    ops = _ops(result.json())
    for operation in ("iam.RemoveRoleFromInstanceProfile", "iam.DeleteInstanceProfile", "iam.DeleteRolePolicy",
                      "iam.DetachRolePolicy", "iam.DeleteRole", "ec2.DeleteTags", "emr.DeleteSecurityConfiguration",
                      "kms.DeleteAlias", "kms.ScheduleKeyDeletion"):
        assert operation in ops
    assert "s3.DeleteBucket" not in ops


def test_dry_run_still_validates_requests_against_the_service_model(cli, wheel, monkeypatch):
    """botocore validates each recorded request: a malformed one fails a dry run too."""
    from fruits.cloud import cluster

    monkeypatch.setattr(cluster, "spark_configurations", lambda: [{"Classification": 42}])

    with pytest.raises(Exception, match="Parameter validation failed"):
        cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--dry-run")
