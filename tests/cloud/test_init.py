"""`fruits cloud init` against moto: the bucket's settings read back, idempotent re-runs, user settings kept."""

from __future__ import annotations

import json

from .conftest import BUCKET, REGION


def _settings(s3, bucket=BUCKET) -> dict:
    return {
        "location": s3.get_bucket_location(Bucket=bucket)["LocationConstraint"],
        "ownership": s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"],
        "public_access": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
    }


def _rule(rules, rule_id):
    return next(rule for rule in rules if rule["ID"] == rule_id)


def test_init_creates_a_hardened_bucket_in_the_region(cli, boto):
    result = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")

    assert result.code == 0, result.err
    assert "bucket" in result.out and "created" in result.out
    s3 = boto("s3")
    got = _settings(s3)
    assert got["location"] == REGION
    assert got["ownership"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert got["public_access"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                                    "RestrictPublicBuckets": True}
    assert got["encryption"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    [statement] = got["policy"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    assert got["versioning"] == "Enabled"
    logs = _rule(got["lifecycle"], "fruits-expire-logs")
    assert logs["Filter"]["Prefix"] == "logs/" and logs["Expiration"]["Days"] == 30 and logs["Status"] == "Enabled"
    tmp = _rule(got["lifecycle"], "fruits-expire-tmp")
    assert tmp["Filter"]["Prefix"] == "tmp/" and tmp["Expiration"]["Days"] == 7
    assert _rule(got["lifecycle"], "fruits-noncurrent-versions")["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30


def test_init_twice_changes_nothing(cli, boto):
    assert cli("cloud", "init", "--bucket", BUCKET, "--poll", "0").code == 0
    before = _settings(boto("s3"))

    again = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")

    assert again.code == 0, again.err
    lines = [line for line in again.out.splitlines() if line.strip()]
    assert len(lines) == 9  # 7 bucket settings, the disk key, the summary
    assert all(" unchanged " in line or line.rstrip().endswith("unchanged") for line in lines[:-1]), again.out
    assert lines[-1].endswith("everything unchanged")
    assert _settings(boto("s3")) == before


def test_init_writes_only_what_drifted(cli, boto):
    assert cli("cloud", "init", "--bucket", BUCKET, "--poll", "0").code == 0
    s3 = boto("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket_policy(Bucket=BUCKET)

    result = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")

    assert result.code == 0, result.err
    changed = [line.split()[0:2] for line in result.out.splitlines() if " created " in line or " updated " in line]
    assert changed == [["bucket", "policy"], ["versioning", "updated"]], result.out
    assert "2 setting(s) changed" in result.out
    assert _settings(s3)["versioning"] == "Enabled"


def test_init_keeps_the_users_own_policy_statements_and_lifecycle_rules(cli, boto):
    s3 = boto("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    theirs = {"Sid": "TheirAuditRole", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/reports/*"}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}))
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [
        {"ID": "their-archive", "Filter": {"Prefix": "archive/"}, "Status": "Enabled", "Expiration": {"Days": 400}}]})

    first = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")
    second = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")

    assert first.code == 0 and second.code == 0, first.err + second.err
    assert "bucket                                       unchanged" in first.out  # it existed already
    got = _settings(s3)
    assert sorted(s["Sid"] for s in got["policy"]["Statement"]) == ["DenyInsecureTransport", "TheirAuditRole"]
    assert sorted(r["ID"] for r in got["lifecycle"]) == [
        "fruits-expire-logs", "fruits-expire-tmp", "fruits-noncurrent-versions", "their-archive"]
    assert second.out.rstrip().endswith("everything unchanged")


def test_init_with_a_kms_key_uses_sse_kms_with_a_bucket_key(cli, boto):
    key = "arn:aws:kms:eu-west-3:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    result = cli("cloud", "init", "--bucket", BUCKET, "--kms-key", key, "--poll", "0")

    assert result.code == 0, result.err
    [rule] = _settings(boto("s3"))["encryption"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert rule["BucketKeyEnabled"] is True
    # Switching back to SSE-S3 is a change, not "unchanged".
    back = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")
    assert "default encryption" in back.out and "updated" in back.out.split("default encryption")[1].splitlines()[0]


def test_init_custom_lifecycle_days(cli, boto):
    result = cli("cloud", "init", "--bucket", BUCKET, "--log-days", "10", "--tmp-days", "2", "--noncurrent-days", "5",
                 "--poll", "0")

    assert result.code == 0, result.err
    rules = _settings(boto("s3"))["lifecycle"]
    assert _rule(rules, "fruits-expire-logs")["Expiration"]["Days"] == 10
    assert _rule(rules, "fruits-expire-tmp")["Expiration"]["Days"] == 2
    assert _rule(rules, "fruits-noncurrent-versions")["NoncurrentVersionExpiration"]["NoncurrentDays"] == 5
