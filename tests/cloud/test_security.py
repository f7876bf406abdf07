"""Disk encryption on the moto server: the KMS key `init` makes, the EMR security configuration `up` makes with it,
the KMS rights both roles get on it, and `destroy` undoing all of it."""

from __future__ import annotations

import json
import re

from .conftest import BUCKET

ALIAS = f"alias/fruits-{BUCKET}-disks"


def _document(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def _up(cli, wheel, *extra):
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", *extra)
    assert result.code == 0, result.err
    return result, re.search(r"\b(j-[A-Z0-9]+)\b", result.out).group(1)


def test_init_makes_a_tagged_disk_key_once(cli, boto, aws):
    first = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")
    second = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")

    assert first.code == 0 and second.code == 0, first.err + second.err
    kms = boto("kms")
    key = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert tags == {"project": "fruits", "fruits:bucket": BUCKET}
    assert f"kms key {ALIAS}" in first.out and "created" in first.out
    assert re.search(rf"kms key {ALIAS}\s+unchanged", second.out)
    assert len(kms.list_keys()["Keys"]) == 1


def test_up_encrypts_the_disks_with_that_key(cli, boto, ready_bucket, wheel):
    result, cluster_id = _up(cli, wheel)

    emr, iam = boto("emr"), boto("iam")
    key_arn = boto("kms").describe_key(KeyId=ALIAS)["KeyMetadata"]["Arn"]
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["SecurityConfiguration"] == f"fruits-{BUCKET}-disks"
    config = json.loads(emr.describe_security_configuration(Name=f"fruits-{BUCKET}-disks")["SecurityConfiguration"])
    encryption = config["EncryptionConfiguration"]
    assert encryption["EnableAtRestEncryption"] is True and encryption["EnableInTransitEncryption"] is False
    assert encryption["AtRestEncryptionConfiguration"]["LocalDiskEncryptionConfiguration"] == {
        "EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": key_arn, "EnableEbsEncryption": True}
    # EBS encryption: the service role uses the key and lets EC2 create grants for AWS resources only.
    service = _document(iam.get_role_policy(RoleName="fruits-emr-service-role",
                                            PolicyName=f"fruits-pass-fruits-emr-ec2-{BUCKET}")["PolicyDocument"])
    grants = next(s for s in service["Statement"] if s["Sid"] == "LetEc2UseTheDiskKey")
    assert grants["Resource"] == key_arn and "kms:CreateGrant" in grants["Action"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert "disks encrypted (fruits-fruits-test-bucket-disks)" in result.out
    again, _ = _up(cli, wheel)
    assert re.search(rf"security configuration fruits-{BUCKET}-disks\s+unchanged", again.out)


def test_kms_key_flag_replaces_the_configuration(cli, boto, ready_bucket, wheel):
    _up(cli, wheel)
    other = boto("kms").create_key(Description="mine")["KeyMetadata"]["Arn"]

    result, cluster_id = _up(cli, wheel, "--kms-key", other)

    assert re.search(rf"security configuration fruits-{BUCKET}-disks\s+updated", result.out)
    config = json.loads(boto("emr").describe_security_configuration(Name=f"fruits-{BUCKET}-disks")[
        "SecurityConfiguration"])
    local = config["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]["LocalDiskEncryptionConfiguration"]
    assert local["AwsKmsKey"] == other


def test_without_any_key_up_is_refused_before_anything_starts(cli, boto, aws, wheel):
    boto("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")

    assert result.code == 2 and len(result.error_lines) == 1
    assert "no KMS key to encrypt the cluster's disks: run `fruits cloud init" in result.err
    assert boto("emr").list_clusters()["Clusters"] == []


def test_destroy_deletes_the_configuration_and_schedules_the_key_deletion(cli, boto, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)
    assert cli("cloud", "down", cluster_id, "--poll", "0").code == 0
    kms = boto("kms")
    key_id = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"]

    result = cli("cloud", "destroy", "--bucket", BUCKET)

    assert result.code == 0, result.err
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == ALIAS] == []
    emr = boto("emr")
    try:
        emr.describe_security_configuration(Name=f"fruits-{BUCKET}-disks")
        raise AssertionError("the security configuration is still there")
    except emr.exceptions.ClientError:
        pass
    # A later `init` makes a new key (the old one waits for its deletion).
    assert cli("cloud", "init", "--bucket", BUCKET, "--poll", "0").code == 0
    assert kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"] != key_id
