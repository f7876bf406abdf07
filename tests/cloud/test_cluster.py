"""`up`, `submit`, `run`, `status`, `logs`, `down`, `destroy` end to end through the CLI against moto (EMR, IAM, S3)."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from .conftest import BUCKET, REGION

VENV_PYTHON = "/opt/fruits/venv/bin/python"


def _cluster_id(text: str) -> str:
    return re.search(r"\b(j-[A-Z0-9]+)\b", text).group(1)


def _up(cli, wheel, *extra):
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", *extra)
    assert result.code == 0, result.err
    return result, _cluster_id(result.out)


def test_up_starts_the_cluster_with_the_requested_settings(cli, boto, ready_bucket, wheel, signed_regions):
    result, cluster_id = _up(cli, wheel, "--release", "emr-7.8.0", "--instance-type", "m5.2xlarge",
                             "--core-nodes", "3", "--idle-timeout", "1800")

    emr = boto("emr")
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Name"] == f"fruits-{BUCKET}"
    assert cluster["ReleaseLabel"] == "emr-7.8.0"
    assert cluster["LogUri"] == f"s3://{BUCKET}/logs/"
    assert [a["Name"] for a in cluster["Applications"]] == ["Spark"]
    assert cluster["AutoTerminate"] is False  # long-lived: waits for steps (until idle timeout or `down`)
    assert cluster["ServiceRole"] == "fruits-emr-service-role"
    assert cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == f"fruits-emr-ec2-{BUCKET}"
    assert "Ec2KeyName" not in cluster["Ec2InstanceAttributes"]  # no SSH key: nobody logs in
    tags = {t["Key"]: t["Value"] for t in cluster["Tags"]}
    assert tags == {"project": "fruits", "fruits:bucket": BUCKET, "for-use-with-amazon-emr-managed-policies": "true"}
    groups = {g["InstanceGroupType"]: (g["InstanceType"], g["RequestedInstanceCount"])
              for g in emr.list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]}
    assert groups == {"MASTER": ("m5.2xlarge", 1), "CORE": ("m5.2xlarge", 3)}
    spark_env = next(c for c in cluster["Configurations"] if c["Classification"] == "spark-env")
    assert spark_env["Configurations"][0]["Properties"]["PYSPARK_PYTHON"] == VENV_PYTHON
    [bootstrap] = emr.list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    assert bootstrap["ScriptPath"] == f"s3://{BUCKET}/code/bootstrap.sh"
    assert bootstrap["Args"] == [f"s3://{BUCKET}/code/{wheel.name}"]
    # Every EMR request was signed for the EU region asked for.
    emr_regions = {region for service, region, _ in signed_regions if service == "elasticmapreduce"}
    assert emr_regions == {REGION}
    assert ("elasticmapreduce", REGION, "RunJobFlow") in signed_regions
    # The output: id, estimate for 4 x m5.2xlarge in Paris: nodes 4 x 2 x (0.224 + 0.048) = 2.176, EBS
    # 4 x (30 root + 128 EMR default) GiB x 0.116 / 730 = 0.100, public IPv4 4 x 0.005 = 0.02: 2.296 $/hour.
    assert "estimated cost: ~$2.30/hour" in result.out
    assert f"fruits cloud down {cluster_id} --region {REGION}" in result.out


def test_up_creates_the_roles_scoped_to_the_bucket_and_uploads_the_code(cli, boto, ready_bucket, wheel):
    _up(cli, wheel)

    iam = boto("iam")
    service = iam.get_role(RoleName="fruits-emr-service-role")["Role"]
    assert service["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "elasticmapreduce.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName="fruits-emr-service-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]

    name = f"fruits-emr-ec2-{BUCKET}"
    instance = iam.get_role(RoleName=name)["Role"]
    assert instance["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []  # no broad managed policy
    document = iam.get_role_policy(RoleName=name, PolicyName="fruits-bucket-access")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    resources = {r for s in document["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                           else s["Resource"])}
    disk_key = boto("kms").describe_key(KeyId=f"alias/fruits-{BUCKET}-disks")["KeyMetadata"]["Arn"]
    assert resources == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*", disk_key}
    s3_actions = {a for s in document["Statement"] if s["Sid"] != "UseTheDiskKey" for a in s["Action"]}
    assert all(a.startswith("s3:") for a in s3_actions) and "s3:*" not in s3_actions
    [key_use] = [s for s in document["Statement"] if s["Sid"] == "UseTheDiskKey"]
    assert all(a.startswith("kms:") for a in key_use["Action"]) and key_use["Resource"] == disk_key
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]

    s3 = boto("s3")
    from fruits.cloud.package import bootstrap_script_path, entry_script_path

    assert s3.get_object(Bucket=BUCKET, Key=f"code/{wheel.name}")["Body"].read() == wheel.read_bytes()
    assert s3.get_object(Bucket=BUCKET, Key="code/bootstrap.sh")["Body"].read() == bootstrap_script_path().read_bytes()
    assert (s3.get_object(Bucket=BUCKET, Key="code/fruits_emr_entry.py")["Body"].read()
            == entry_script_path().read_bytes())


def test_a_second_up_reuses_roles_and_code(cli, boto, ready_bucket, wheel):
    _, first = _up(cli, wheel)
    again, second = _up(cli, wheel)

    assert first != second
    assert "created" not in again.out and "updated" not in again.out
    assert "code in s3://fruits-test-bucket/code/: 0 uploaded, 3 unchanged" in again.out


def test_up_with_a_kms_bucket_lets_the_nodes_use_that_key(cli, boto, aws, wheel):
    key = "arn:aws:kms:eu-west-3:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert cli("cloud", "init", "--bucket", BUCKET, "--kms-key", key, "--poll", "0").code == 0
    _up(cli, wheel)

    document = boto("iam").get_role_policy(RoleName=f"fruits-emr-ec2-{BUCKET}",
                                           PolicyName="fruits-bucket-access")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    [kms] = [s for s in document["Statement"] if s["Sid"] == "UseTheBucketKey"]
    assert kms["Resource"] == key and sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_submit_adds_a_spark_step_running_fruits_run(cli, boto, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)

    result = cli("cloud", "submit", cluster_id, "--input", f"s3://{BUCKET}/data/photos",
                 "--output", f"s3://{BUCKET}/out/run1", "--weights", f"s3://{BUCKET}/models/w.weights.h5",
                 "--image-size", "160", "--feature-layer", "bottleneck", "--k", "12", "--overwrite", "--incremental")

    assert result.code == 0, result.err
    [step] = boto("emr").list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Id"] in result.out
    assert step["ActionOnFailure"] == "CONTINUE"  # a failed run leaves the cluster for the next one
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == [
        "spark-submit", "--deploy-mode", "cluster", "--master", "yarn",
        "--conf", f"spark.yarn.appMasterEnv.PYSPARK_PYTHON={VENV_PYTHON}",
        "--conf", f"spark.executorEnv.PYSPARK_PYTHON={VENV_PYTHON}",
        "--conf", "spark.driver.memory=2g", "--conf", "spark.driver.memoryOverhead=2g",
        "--conf", "spark.executor.memory=4g", "--conf", "spark.executor.memoryOverhead=4g",
        f"s3://{BUCKET}/code/fruits_emr_entry.py",
        f"s3://{BUCKET}/data/photos", f"s3://{BUCKET}/out/run1", "--master", "yarn",
        "--weights", f"s3://{BUCKET}/models/w.weights.h5", "--image-size", "160", "--feature-layer", "bottleneck",
        "--k", "12", "--overwrite", "--incremental",  # passed through to `fruits run` on the cluster
    ]


@pytest.mark.parametrize("flags, expected", [
    (["--input", "s3://other-bucket/photos", "--output", f"s3://{BUCKET}/out"],
     "INPUT s3://other-bucket/photos is in bucket other-bucket, but the cluster's role reaches bucket"),
    (["--input", f"s3://{BUCKET}/photos", "--output", "/home/me/out"], "OUTPUT '/home/me/out' must be an s3:// URI"),
    (["--input", f"s3://{BUCKET}/p", "--output", f"s3://{BUCKET}/o", "--weights", "/tmp/w.weights.h5"],
     "is a local file, which the cluster cannot read"),
    (["--input", f"s3://{BUCKET}/p", "--output", f"s3://{BUCKET}/o", "--image-size", "5"], "image"),
    (["--input", f"s3://{BUCKET}/p", "--output", f"s3://{BUCKET}/o", "--variance", "1.5"], "variance"),
])
def test_submit_refuses_what_would_fail_on_the_cluster_before_adding_a_step(cli, boto, ready_bucket, wheel, flags,
                                                                             expected):
    _, cluster_id = _up(cli, wheel)

    result = cli("cloud", "submit", cluster_id, *flags)

    assert result.code == 2 and len(result.error_lines) == 1 and expected in result.err, result.err
    assert boto("emr").list_steps(ClusterId=cluster_id)["Steps"] == []


def test_submit_refuses_a_terminated_cluster(cli, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)
    assert cli("cloud", "down", cluster_id, "--poll", "0").code == 0

    result = cli("cloud", "submit", cluster_id, "--input", f"s3://{BUCKET}/p", "--output", f"s3://{BUCKET}/o")

    assert result.code == 2 and f"cluster {cluster_id} is TERMINATED" in result.err


def test_run_starts_a_transient_cluster_with_the_step(cli, boto, ready_bucket, wheel, signed_regions):
    result = cli("cloud", "run", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0",
                 "--input", f"s3://{BUCKET}/photos", "--output", f"s3://{BUCKET}/out", "--core-nodes", "1")

    assert result.code == 0, result.err
    cluster_id = _cluster_id(result.out)
    emr = boto("emr")
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["AutoTerminate"] is True  # KeepJobFlowAliveWhenNoSteps false: it ends with its step
    [step] = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert step["Config"]["Args"][-4:] == [f"s3://{BUCKET}/photos", f"s3://{BUCKET}/out", "--master", "yarn"]
    assert {r for s, r, _ in signed_regions if s == "elasticmapreduce"} == {REGION}


def test_status_shows_active_clusters_and_their_cost(cli, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)

    result = cli("cloud", "status")

    assert result.code == 0, result.err
    [row] = [line for line in result.out.splitlines() if line.startswith(cluster_id)]
    assert "WAITING" in row and "3 x m5.xlarge" in row
    assert " 0.82 " in row  # 3 x (0.224 + 0.048) $/hour in eu-west-3
    assert "total so far: ~$0.01" in result.out  # the one-minute minimum of a cluster started just now


def test_status_with_no_cluster(cli, aws):
    result = cli("cloud", "status")
    assert result.code == 0 and "no active EMR cluster in eu-west-3" in result.out


def test_down_terminates_and_waits(cli, boto, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)

    result = cli("cloud", "down", cluster_id, "--poll", "0")

    assert result.code == 0, result.err
    assert f"cluster {cluster_id}: WAITING -> TERMINATED" in result.out
    assert boto("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] == "TERMINATED"
    assert cluster_id not in cli("cloud", "status").out
    again = cli("cloud", "down", cluster_id, "--poll", "0")
    assert again.code == 0 and f"cluster {cluster_id} was already TERMINATED" in again.out


def test_logs_prints_the_steps_stderr_and_stdout_from_s3(cli, boto, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)
    assert cli("cloud", "submit", cluster_id, "--input", f"s3://{BUCKET}/p", "--output", f"s3://{BUCKET}/o").code == 0
    [step] = boto("emr").list_steps(ClusterId=cluster_id)["Steps"]
    s3 = boto("s3")
    prefix = f"logs/{cluster_id}/steps/{step['Id']}/"
    s3.put_object(Bucket=BUCKET, Key=prefix + "stderr.gz", Body=gzip.compress(b"line 1\nfruits: done: 40 of 40\n"))

    result = cli("cloud", "logs", cluster_id)
    tail = cli("cloud", "logs", cluster_id, "--step", step["Id"], "--tail", "1")

    assert result.code == 0, result.err
    assert f"s3://{BUCKET}/{prefix}" in result.out
    assert "----- stderr -----\nline 1\nfruits: done: 40 of 40" in result.out
    assert "----- stdout -----\n(not in S3 yet" in result.out
    assert "line 1" not in tail.out and "fruits: done: 40 of 40" in tail.out


def test_logs_of_a_cluster_without_steps(cli, ready_bucket, wheel):
    _, cluster_id = _up(cli, wheel)
    result = cli("cloud", "logs", cluster_id)
    assert result.code == 2 and f"cluster {cluster_id} has no step yet" in result.err


def test_destroy_deletes_what_init_and_up_created(cli, boto, ready_bucket, wheel, tmp_path):
    _, cluster_id = _up(cli, wheel)
    refused = cli("cloud", "destroy", "--bucket", BUCKET)
    assert refused.code == 2 and f"cluster(s) {cluster_id} still use bucket {BUCKET}" in refused.err
    assert cli("cloud", "down", cluster_id, "--poll", "0").code == 0
    s3 = boto("s3")
    s3.put_object(Bucket=BUCKET, Key="out/a.csv", Body=b"v1")
    s3.put_object(Bucket=BUCKET, Key="out/a.csv", Body=b"v2")  # versioning keeps v1

    kept = cli("cloud", "destroy", "--bucket", BUCKET)
    assert kept.code == 0, kept.err
    iam = boto("iam")
    for role in ("fruits-emr-service-role", f"fruits-emr-ec2-{BUCKET}"):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_role(RoleName=role)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_instance_profile(InstanceProfileName=f"fruits-emr-ec2-{BUCKET}")
    assert s3.head_bucket(Bucket=BUCKET)  # kept without --delete-bucket

    gone = cli("cloud", "destroy", "--bucket", BUCKET, "--delete-bucket", "--yes")
    assert gone.code == 0, gone.err
    assert "object version(s) removed first" in gone.out
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_bucket(Bucket=BUCKET)
