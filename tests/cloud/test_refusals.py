"""Refusals: exit 2 and one clear line each (non-EU region, bucket elsewhere, no credentials, unknown cluster...)."""

from __future__ import annotations

import pytest

from .conftest import BUCKET, REGION


def _one_line_error(result, expected: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert len(result.error_lines) == 1, result.err
    line = result.error_lines[0]
    assert line.startswith("fruits: error: "), line
    assert expected in line, line


@pytest.mark.parametrize("command", [
    ["init", "--bucket", BUCKET],
    ["upload", ".", f"s3://{BUCKET}/photos"],
    ["up", "--bucket", BUCKET],
    ["run", "--bucket", BUCKET, "--input", f"s3://{BUCKET}/in", "--output", f"s3://{BUCKET}/out"],
    ["submit", "j-ABCDEFGHIJKL", "--input", f"s3://{BUCKET}/in", "--output", f"s3://{BUCKET}/out"],
    ["status"],
    ["logs", "j-ABCDEFGHIJKL"],
    ["down", "j-ABCDEFGHIJKL"],
    ["destroy", "--bucket", BUCKET],
    ["doctor"],
    ["report", "j-ABCDEFGHIJKL"],
])
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-3", "mars-north-1"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_every_command_refuses_a_region_outside_the_eu(cli, command, region, dry_run):
    # No moto server here: the refusal comes before any client is made (AWS_ENDPOINT_URL is a closed port).
    result = cli("cloud", *command, "--region", region, *(["--dry-run"] if dry_run else []))

    _one_line_error(result, f"region {region!r} is outside the EU")
    assert result.out == ""


@pytest.mark.parametrize("region", ["eu-west-2", "eu-central-2"])  # London and Zurich: not in the EU
@pytest.mark.parametrize("command", [["status"], ["init", "--bucket", BUCKET], ["doctor"]])
def test_european_regions_outside_the_eu_are_refused(cli, command, region):
    result = cli("cloud", *command, "--region", region)

    _one_line_error(result, f"region {region!r} is outside the EU")
    assert "eu-west-3" in result.err and region not in result.err.split("runs only in")[1]


@pytest.mark.parametrize("variable", ["AWS_DEFAULT_REGION", "AWS_REGION"])
def test_a_non_eu_region_from_the_aws_configuration_is_refused_too(cli, aws, monkeypatch, variable):
    monkeypatch.setenv(variable, "us-west-2")

    _one_line_error(cli("cloud", "status"), "region 'us-west-2' is outside the EU")


def test_a_non_eu_region_of_the_profile_is_refused(cli, aws, monkeypatch, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("[profile work]\nregion = us-east-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "work")
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    _one_line_error(cli("cloud", "status"), "region 'us-east-2' is outside the EU")


def test_without_any_configured_region_the_default_is_paris(cli, aws, monkeypatch, boto):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert cli("cloud", "init", "--bucket", BUCKET, "--poll", "0").code == 0
    assert boto("s3").get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == "eu-west-3"


@pytest.mark.parametrize("existing_region, shown", [("eu-central-1", "eu-central-1"), ("us-east-1", "us-east-1")])
def test_init_refuses_a_bucket_that_exists_in_another_region(cli, boto, existing_region, shown):
    s3 = boto("s3", existing_region)
    if existing_region == "us-east-1":
        s3.create_bucket(Bucket=BUCKET)
    else:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": existing_region})

    result = cli("cloud", "init", "--bucket", BUCKET, "--region", REGION)

    _one_line_error(result, f"bucket {BUCKET} already exists in {shown}, not {REGION}")
    with pytest.raises(s3.exceptions.ClientError):  # nothing was written to it
        s3.get_public_access_block(Bucket=BUCKET)


@pytest.mark.parametrize("command", [
    ["init", "--bucket", BUCKET],
    ["status"],
    ["down", "j-ABCDEFGHIJKL"],
    ["logs", "j-ABCDEFGHIJKL"],
])
def test_missing_credentials_is_one_clear_line(cli, aws, monkeypatch, command):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    _one_line_error(cli("cloud", *command), "no AWS credentials found: run `aws configure`")


def test_an_unknown_profile_is_one_clear_line(cli, aws, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")

    _one_line_error(cli("cloud", "status"), "no-such-profile")


@pytest.mark.parametrize("command", [
    ["down", "j-NOSUCHCLUSTER1"],
    ["logs", "j-NOSUCHCLUSTER1"],
    ["submit", "j-NOSUCHCLUSTER1", "--input", f"s3://{BUCKET}/in", "--output", f"s3://{BUCKET}/out"],
])
def test_a_cluster_id_that_does_not_exist_is_one_clear_line(cli, aws, command):
    _one_line_error(cli("cloud", *command), f"no EMR cluster j-NOSUCHCLUSTER1 in {REGION}")


@pytest.mark.parametrize("command, expected", [
    (["down", "cluster-1"], "bad cluster id 'cluster-1'"),
    (["logs", "j-ABCDEFGHIJKL", "--step", "step1"], "bad step id 'step1'"),
    (["init", "--bucket", "Bad_Bucket"], "bad bucket name 'Bad_Bucket'"),
    (["init", "--bucket", "192.168.1.1"], "bad bucket name"),
    (["init", "--bucket", BUCKET, "--kms-key", "alias/mine"], "bad --kms-key 'alias/mine'"),
    (["init", "--bucket", BUCKET, "--kms-key", "arn:aws:kms:eu-west-1:123456789012:key/abc"], "use a key of eu-west-3"),
    (["init", "--bucket", BUCKET, "--log-days", "0"], "bad --log-days 0"),
    (["up", "--bucket", BUCKET, "--release", "emr-6.15.0"], "older than EMR 7"),
    (["up", "--bucket", BUCKET, "--release", "7.9"], "bad --release '7.9'"),
    (["up", "--bucket", BUCKET, "--idle-timeout", "10"], "bad --idle-timeout 10"),
    (["up", "--bucket", BUCKET, "--core-nodes", "-1"], "bad --core-nodes -1"),
    (["up", "--bucket", BUCKET, "--root-volume", "10"], "bad --root-volume 10"),
    (["run", "--bucket", BUCKET, "--subnet", "subnet_1", "--input", f"s3://{BUCKET}/i", "--output",
      f"s3://{BUCKET}/o"], "bad --subnet 'subnet_1'"),
    (["doctor", "--core-nodes", "500"], "bad --core-nodes 500"),
    (["report", "cluster-1"], "bad cluster id 'cluster-1'"),
    (["up", "--bucket", BUCKET, "--wheel", "/nonexistent/fruits-0.1.0-py3-none-any.whl"], "wheel not found"),
    (["upload", "/nonexistent-folder", f"s3://{BUCKET}/x"], "local folder not found"),
    (["upload", "{tmp}", "/not/s3"], "bad destination '/not/s3'"),
    (["upload", "{tmp}", f"s3://{BUCKET}/x", "--workers", "0"], "bad --workers 0"),
    (["destroy", "--bucket", BUCKET, "--delete-bucket"], "add --yes to confirm"),
    (["down", "j-ABCDEFGHIJKL", "--poll", "-1"], "bad --poll -1"),
])
def test_bad_flags_are_one_clear_line(cli, aws, tmp_path, command, expected):
    command = [part.replace("{tmp}", str(tmp_path)) for part in command]
    _one_line_error(cli("cloud", *command), expected)


def test_commands_other_than_init_refuse_a_missing_bucket(cli, aws, tmp_path, wheel):
    (tmp_path / "a.jpg").write_bytes(b"x")
    _one_line_error(cli("cloud", "upload", str(tmp_path), f"s3://{BUCKET}/photos"),
                    f"bucket {BUCKET} does not exist: create it with `fruits cloud init --bucket {BUCKET}`")
    _one_line_error(cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0"),
                    f"bucket {BUCKET} does not exist")


def test_a_bucket_of_another_account_is_one_clear_line(cli, aws):
    from unittest import mock

    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetBucketLocation")
    with mock.patch("botocore.client.BaseClient._make_api_call", side_effect=denied):
        _one_line_error(cli("cloud", "init", "--bucket", BUCKET), "belongs to another AWS account")


def test_fruits_cloud_alone_prints_help_and_exits_2(cli):
    result = cli("cloud")
    assert result.code == 2
    assert "COMMAND" in result.err and "init" in result.err
