"""What moto does not implement, checked on the exact request with botocore's Stubber.

moto accepts RunJobFlow's AutoTerminationPolicy but drops it, and its steps never finish: the request that
carries the idle timeout, and the step/cluster states that `--wait` follows, are checked here instead.
"""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.stub import ANY, Stubber

from .conftest import BUCKET, REGION

VENV_PYTHON = "/opt/fruits/venv/bin/python"
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def _expected_run_job_flow(wheel_name: str, keep_alive: bool, idle_timeout: int, core: int, itype: str,
                           release: str, steps=None) -> dict:
    request = {
        "Name": f"fruits-{BUCKET}",
        "LogUri": f"s3://{BUCKET}/logs/",
        "ReleaseLabel": release,
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "primary", "InstanceRole": "MASTER", "Market": "ON_DEMAND", "InstanceType": itype,
                 "InstanceCount": 1},
                {"Name": "core", "InstanceRole": "CORE", "Market": "ON_DEMAND", "InstanceType": itype,
                 "InstanceCount": core},
            ],
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
            "TerminationProtected": False,
            "Ec2SubnetId": ANY,  # moto's default subnet ids are random (test_network checks which one)
        },
        "BootstrapActions": [{"Name": "fruits python3.11 venv", "ScriptBootstrapAction": {
            "Path": f"s3://{BUCKET}/code/bootstrap.sh", "Args": [f"s3://{BUCKET}/code/{wheel_name}"]}}],
        "Configurations": [
            {"Classification": "spark-env", "Properties": {}, "Configurations": [
                {"Classification": "export",
                 "Properties": {"PYSPARK_PYTHON": VENV_PYTHON, "PYSPARK_DRIVER_PYTHON": VENV_PYTHON}}]},
            {"Classification": "spark-defaults", "Properties": {
                "spark.pyspark.python": VENV_PYTHON, "spark.pyspark.driver.python": VENV_PYTHON,
                "spark.yarn.appMasterEnv.PYSPARK_PYTHON": VENV_PYTHON,
                "spark.executorEnv.PYSPARK_PYTHON": VENV_PYTHON,
                "spark.driver.memory": "2g", "spark.driver.memoryOverhead": "2g",
                "spark.executor.memory": "4g", "spark.executor.memoryOverhead": "4g"}},
        ],
        "ServiceRole": "fruits-emr-service-role",
        "JobFlowRole": f"fruits-emr-ec2-{BUCKET}",
        "VisibleToAllUsers": True,
        "Tags": [{"Key": "project", "Value": "fruits"}, {"Key": "fruits:bucket", "Value": BUCKET},
                 {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}],
        "AutoTerminationPolicy": {"IdleTimeout": idle_timeout},
        "StepConcurrencyLevel": 1,
        "SecurityConfiguration": ANY,  # named after the disk key moto made (test_security checks it)
        "EbsRootVolumeSize": 30,
    }
    if steps is not None:
        request["Steps"] = steps
    return request


def _step_args(*run_args: str) -> list[str]:
    return ["spark-submit", "--deploy-mode", "cluster", "--master", "yarn",
            "--conf", f"spark.yarn.appMasterEnv.PYSPARK_PYTHON={VENV_PYTHON}",
            "--conf", f"spark.executorEnv.PYSPARK_PYTHON={VENV_PYTHON}",
            "--conf", "spark.driver.memory=2g", "--conf", "spark.driver.memoryOverhead=2g",
            "--conf", "spark.executor.memory=4g", "--conf", "spark.executor.memoryOverhead=4g",
            f"s3://{BUCKET}/code/fruits_emr_entry.py", *run_args]


@pytest.fixture
def emr_stub(monkeypatch, aws):
    """The CLI's EMR client, stubbed (S3 and IAM still go to moto)."""
    from fruits.cli.cloud import clients as cli_cloud

    emr = cli_cloud._session().client("emr", region_name=REGION)
    original = cli_cloud.Aws.client
    monkeypatch.setattr(cli_cloud.Aws, "client", lambda self, service: emr if service == "emr"
                        else original(self, service))
    with Stubber(emr) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _bpa(stub):
    stub.add_response("get_block_public_access_configuration", {
        "BlockPublicAccessConfiguration": {"BlockPublicSecurityGroupRules": True},
        "BlockPublicAccessConfigurationMetadata": {"CreationDateTime": NOW,
                                                   "CreatedByArn": "arn:aws:iam::123456789012:root"}})


def _cluster(state: str, cluster_id: str = "j-STUBBED00001") -> dict:
    return {"Cluster": {"Id": cluster_id, "Name": f"fruits-{BUCKET}", "Status": {"State": state},
                        "Tags": [{"Key": "fruits:bucket", "Value": BUCKET}], "LogUri": f"s3n://{BUCKET}/logs/"}}


def _step(state: str, step_id: str = "s-STUBBED00001") -> dict:
    return {"Step": {"Id": step_id, "Name": "fruits run", "Status": {
        "State": state, "Timeline": {"CreationDateTime": NOW, "StartDateTime": NOW}}}}


def _security_configuration(stub) -> None:
    """`up`/`run` make the security configuration (disk encryption) before RunJobFlow."""
    stub.add_client_error("describe_security_configuration", service_error_code="InvalidRequestException",
                          service_message=f"Security configuration with name 'fruits-{BUCKET}-disks' does not exist.")
    stub.add_response("create_security_configuration", {"Name": f"fruits-{BUCKET}-disks", "CreationDateTime": NOW})


def _report_responses(stub, cluster_state: str, step_state: str) -> None:
    """What the run report reads after a step: the cluster, its instance groups, the step."""
    cluster = _cluster(cluster_state)
    cluster["Cluster"].update(ReleaseLabel="emr-7.9.0", Status={"State": cluster_state, "Timeline": {
        "CreationDateTime": NOW, "ReadyDateTime": NOW + dt.timedelta(minutes=12)}})
    stub.add_response("describe_cluster", cluster, {"ClusterId": "j-STUBBED00001"})
    stub.add_response("list_instance_groups", {"InstanceGroups": [
        {"Id": "ig-1", "InstanceGroupType": "MASTER", "InstanceType": "m5.xlarge", "Market": "ON_DEMAND",
         "RequestedInstanceCount": 1, "RunningInstanceCount": 1},
        {"Id": "ig-2", "InstanceGroupType": "CORE", "InstanceType": "m5.xlarge", "Market": "ON_DEMAND",
         "RequestedInstanceCount": 2, "RunningInstanceCount": 2}]}, {"ClusterId": "j-STUBBED00001"})
    step = _step(step_state)
    step["Step"]["Config"] = {"Jar": "command-runner.jar", "Args": _step_args(f"s3://{BUCKET}/in", f"s3://{BUCKET}/out")}
    stub.add_response("describe_step", step, {"ClusterId": "j-STUBBED00001", "StepId": "s-STUBBED00001"})


def _failure_responses(stub, cluster_state: str, step_state: str) -> None:
    """What the failure summary reads: the cluster and step (reasons), then the step's logs."""
    ids = {"ClusterId": "j-STUBBED00001", "StepId": "s-STUBBED00001"}
    stub.add_response("describe_cluster", _cluster(cluster_state), {"ClusterId": "j-STUBBED00001"})
    stub.add_response("describe_step", _step(step_state), ids)
    stub.add_response("describe_cluster", _cluster(cluster_state), {"ClusterId": "j-STUBBED00001"})
    stub.add_response("describe_step", _step(step_state), ids)


def test_up_sends_the_auto_termination_policy_in_run_job_flow(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    emr_stub.add_response("run_job_flow", {"JobFlowId": "j-STUBBED00001"}, _expected_run_job_flow(
        wheel.name, keep_alive=True, idle_timeout=1234, core=3, itype="r5.xlarge", release="emr-7.5.0"))
    _bpa(emr_stub)

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", "--idle-timeout", "1234",
                 "--core-nodes", "3", "--instance-type", "r5.xlarge", "--release", "emr-7.5.0")

    assert result.code == 0, result.err
    assert "cluster j-STUBBED00001 starting in eu-west-3: emr-7.5.0, 1 primary + 3 core x r5.xlarge" in result.out
    assert "auto-terminates after 1234 s idle" in result.out
    # 4 x (0.296 + 0.063) nodes + 4 x (30 + 64) GiB x 0.116 / 730 EBS + 4 x 0.005 IPv4 = 1.516 $/hour in eu-west-3
    assert "estimated cost: ~$1.52/hour" in result.out


def test_up_wait_follows_the_cluster_until_it_is_ready(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    emr_stub.add_response("run_job_flow", {"JobFlowId": "j-STUBBED00001"}, _expected_run_job_flow(
        wheel.name, keep_alive=True, idle_timeout=3600, core=2, itype="m5.xlarge", release="emr-7.9.0"))
    _bpa(emr_stub)
    for state in ("STARTING", "BOOTSTRAPPING", "WAITING"):
        emr_stub.add_response("describe_cluster", _cluster(state), {"ClusterId": "j-STUBBED00001"})

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", "--wait")

    assert result.code == 0, result.err
    assert "cluster j-STUBBED00001 is ready for `fruits cloud submit`" in result.out


def test_run_sends_one_transient_cluster_with_its_step_and_waits_for_both(cli, emr_stub, ready_bucket, wheel,
                                                                          tmp_path):
    _security_configuration(emr_stub)
    step = {"Name": "fruits run", "ActionOnFailure": "TERMINATE_CLUSTER", "HadoopJarStep": {
        "Jar": "command-runner.jar", "Args": _step_args(f"s3://{BUCKET}/in", f"s3://{BUCKET}/out", "--master", "yarn",
                                                        "--weights", "imagenet", "--batch-size", "32")}}
    emr_stub.add_response("run_job_flow", {"JobFlowId": "j-STUBBED00001"}, _expected_run_job_flow(
        wheel.name, keep_alive=False, idle_timeout=3600, core=2, itype="m5.xlarge", release="emr-7.9.0",
        steps=[step]))
    emr_stub.add_response("list_steps", {"Steps": [{"Id": "s-STUBBED00001", "Name": "fruits run"}]},
                          {"ClusterId": "j-STUBBED00001"})
    _bpa(emr_stub)
    for state in ("PENDING", "RUNNING", "COMPLETED"):
        emr_stub.add_response("describe_step", _step(state), {"ClusterId": "j-STUBBED00001",
                                                               "StepId": "s-STUBBED00001"})
    for state in ("TERMINATING", "TERMINATED"):
        emr_stub.add_response("describe_cluster", _cluster(state), {"ClusterId": "j-STUBBED00001"})
    _report_responses(emr_stub, "TERMINATED", "COMPLETED")

    result = cli("cloud", "run", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", "--wait",
                 "--report-dir", str(tmp_path),
                 "--input", f"s3://{BUCKET}/in", "--output", f"s3://{BUCKET}/out", "--weights", "imagenet",
                 "--batch-size", "32")

    assert result.code == 0, result.err
    assert "step s-STUBBED00001: RUNNING" in result.err  # the progress line between waiter rounds
    assert "step s-STUBBED00001: COMPLETED" in result.out
    assert f"step logs: s3://{BUCKET}/logs/j-STUBBED00001/steps/s-STUBBED00001/" in result.out
    assert "cluster j-STUBBED00001: TERMINATED" in result.out
    assert f"run report: {tmp_path}/fruits-run-report-j-STUBBED00001-s-STUBBED00001.json" in result.out
    assert f"run report: s3://{BUCKET}/out.run-report.json" in result.out


@pytest.mark.parametrize("final, code", [("COMPLETED", 0), ("FAILED", 1), ("CANCELLED", 1)])
def test_submit_wait_ends_with_the_step_state(cli, emr_stub, ready_bucket, final, code, tmp_path):
    emr_stub.add_response("describe_cluster", _cluster("WAITING"), {"ClusterId": "j-STUBBED00001"})
    emr_stub.add_response("add_job_flow_steps", {"StepIds": ["s-STUBBED00001"]}, {
        "JobFlowId": "j-STUBBED00001",
        "Steps": [{"Name": "fruits run", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": _step_args(f"s3://{BUCKET}/in", f"s3://{BUCKET}/out", "--master", "yarn")}}]})
    for state in ("RUNNING", "RUNNING", final):
        emr_stub.add_response("describe_step", _step(state), {"ClusterId": "j-STUBBED00001",
                                                               "StepId": "s-STUBBED00001"})
    if final != "COMPLETED":
        _failure_responses(emr_stub, "WAITING", final)
    _report_responses(emr_stub, "WAITING", final)

    result = cli("cloud", "submit", "j-STUBBED00001", "--input", f"s3://{BUCKET}/in", "--output",
                 f"s3://{BUCKET}/out", "--wait", "--poll", "0", "--report-dir", str(tmp_path))

    assert result.code == code, result.err
    assert f"step s-STUBBED00001: {final}" in result.out
    assert "fruits cloud logs j-STUBBED00001 --step s-STUBBED00001" in result.out


def test_down_reports_a_cluster_that_ended_with_errors(cli, emr_stub, aws):
    emr_stub.add_response("describe_cluster", _cluster("RUNNING"), {"ClusterId": "j-STUBBED00001"})
    emr_stub.add_response("terminate_job_flows", {}, {"JobFlowIds": ["j-STUBBED00001"]})
    emr_stub.add_response("describe_cluster", _cluster("TERMINATING"), {"ClusterId": "j-STUBBED00001"})
    emr_stub.add_response("describe_cluster", _cluster("TERMINATED_WITH_ERRORS"), {"ClusterId": "j-STUBBED00001"})

    result = cli("cloud", "down", "j-STUBBED00001", "--poll", "0")

    assert result.code == 0, result.err
    assert "cluster j-STUBBED00001: RUNNING -> TERMINATED_WITH_ERRORS" in result.out


def test_down_no_wait_asks_and_returns(cli, emr_stub, aws):
    emr_stub.add_response("describe_cluster", _cluster("WAITING"), {"ClusterId": "j-STUBBED00001"})
    emr_stub.add_response("terminate_job_flows", {}, {"JobFlowIds": ["j-STUBBED00001"]})

    result = cli("cloud", "down", "j-STUBBED00001", "--no-wait")

    assert result.code == 0 and "WAITING -> TERMINATING" in result.out


def test_an_emr_refusal_is_one_line(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    emr_stub.add_client_error("run_job_flow", service_error_code="ValidationException",
                              service_message="The requested instance type m5.xlarge is not supported in eu-south-2c.")

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")

    assert result.code == 2
    assert result.error_lines == ["fruits: error: AWS refused RunJobFlow: ValidationException: The requested instance "
                                  "type m5.xlarge is not supported in eu-south-2c."]


def test_status_shows_a_cluster_of_instance_fleets_with_an_unknown_cost(cli, emr_stub, aws):
    emr_stub.add_response("list_clusters", {"Clusters": [{"Id": "j-FLEETS000001", "Name": "someone-elses", "Status": {
        "State": "RUNNING", "Timeline": {"CreationDateTime": NOW}}}]})
    emr_stub.add_client_error("list_instance_groups", service_error_code="InvalidRequestException",
                              service_message="Instance groups are not supported for clusters with instance fleets")

    result = cli("cloud", "status")

    assert result.code == 0, result.err
    [row] = [line for line in result.out.splitlines() if line.startswith("j-FLEETS000001")]
    assert "someone-elses" in row and "RUNNING" in row and row.split()[-2:] == ["?", "?"]


# --- the first minutes of a new account: RunJobFlow retried while IAM propagates ---------------------------


_PROFILE_NOT_SEEN = "Invalid InstanceProfile: fruits-emr-ec2-fruits-test-bucket."


def test_run_job_flow_is_retried_while_emr_does_not_see_the_new_roles(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    expected = _expected_run_job_flow(wheel.name, keep_alive=True, idle_timeout=3600, core=2, itype="m5.xlarge",
                                      release="emr-7.9.0")
    for _ in range(2):
        emr_stub.add_client_error("run_job_flow", service_error_code="ValidationException",
                                  service_message=_PROFILE_NOT_SEEN, expected_params=expected)
    emr_stub.add_response("run_job_flow", {"JobFlowId": "j-STUBBED00001"}, expected)
    _bpa(emr_stub)

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")

    assert result.code == 0, result.err
    assert result.err.count("EMR does not see the new roles yet (Invalid InstanceProfile") == 2
    assert "cluster j-STUBBED00001 starting" in result.out


def test_run_job_flow_gives_up_after_the_retries_with_one_line(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    from fruits.cloud.deploy import RETRY_DELAYS

    for _ in range(len(RETRY_DELAYS) + 1):
        emr_stub.add_client_error("run_job_flow", service_error_code="ValidationException",
                                  service_message=_PROFILE_NOT_SEEN)

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")

    assert result.code == 2
    assert result.error_lines[-1].startswith(
        f"fruits: error: EMR still refuses the roles after about {sum(RETRY_DELAYS)} s of retries")
    assert "fruits cloud doctor" in result.error_lines[-1]


def test_the_retry_backoff_sums_to_about_two_minutes():
    from fruits.cloud import deploy
    from fruits.cloud.waiting import Waits

    class Refusing:
        class exceptions:
            from botocore.exceptions import ClientError

        def run_job_flow(self, **request):
            raise self.exceptions.ClientError({"Error": {"Code": "ValidationException", "Message": _PROFILE_NOT_SEEN}},
                                              "RunJobFlow")

    slept: list[float] = []
    with pytest.raises(deploy.AwsRequestError):
        deploy.start_cluster(Refusing(), {}, Waits(), sleep=slept.append)
    assert slept == list(deploy.RETRY_DELAYS) and 100 <= sum(slept) <= 150


def test_other_refusals_are_not_retried(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    emr_stub.add_client_error("run_job_flow", service_error_code="ValidationException",
                              service_message="Instance type m5.xlarge is not supported in eu-west-3c.")

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")

    assert result.code == 2 and "EMR does not see" not in result.err
    assert "AWS refused RunJobFlow: ValidationException: Instance type" in result.error_lines[-1]


# --- when it fails: why, and the end of the step's stderr --------------------------------------------------


def test_a_failed_step_prints_emrs_reason_and_the_end_of_its_stderr(cli, emr_stub, boto, ready_bucket, tmp_path):
    import gzip

    cluster_id, step_id = "j-STUBBED00001", "s-STUBBED00001"
    stderr = "\n".join(f"line {i}" for i in range(1, 31)) + "\nModuleNotFoundError: No module named 'botocore'\n"
    boto("s3").put_object(Bucket=BUCKET, Key=f"logs/{cluster_id}/steps/{step_id}/stderr.gz",
                          Body=gzip.compress(stderr.encode()))
    emr_stub.add_response("describe_cluster", _cluster("WAITING"), {"ClusterId": cluster_id})
    emr_stub.add_response("add_job_flow_steps", {"StepIds": [step_id]})
    emr_stub.add_response("describe_step", _step("FAILED"), {"ClusterId": cluster_id, "StepId": step_id})
    failed_cluster = _cluster("WAITING")
    failed_cluster["Cluster"]["Status"]["StateChangeReason"] = {"Message": "Waiting for steps"}
    emr_stub.add_response("describe_cluster", failed_cluster, {"ClusterId": cluster_id})
    failed_step = _step("FAILED")
    failed_step["Step"]["Status"]["FailureDetails"] = {
        "Reason": "Unknown Error.", "LogFile": f"s3://{BUCKET}/logs/{cluster_id}/steps/{step_id}/stderr.gz"}
    emr_stub.add_response("describe_step", failed_step, {"ClusterId": cluster_id, "StepId": step_id})
    emr_stub.add_response("describe_cluster", failed_cluster, {"ClusterId": cluster_id})  # the logs' location
    emr_stub.add_response("describe_step", failed_step, {"ClusterId": cluster_id, "StepId": step_id})
    _report_responses(emr_stub, "WAITING", "FAILED")

    result = cli("cloud", "submit", cluster_id, "--input", f"s3://{BUCKET}/in", "--output", f"s3://{BUCKET}/out",
                 "--wait", "--poll", "0", "--report-dir", str(tmp_path))

    assert result.code == 1
    assert f"step {step_id}: FAILED: Unknown Error.; s3://{BUCKET}/logs/" in result.out
    assert f"cluster {cluster_id}: WAITING: Waiting for steps" in result.out
    assert "  ModuleNotFoundError: No module named 'botocore'" in result.out
    assert "  line 12\n" in result.out and "  line 11\n" not in result.out  # the last 20 of 31 lines only


def test_up_wait_on_a_cluster_that_fails_says_why(cli, emr_stub, ready_bucket, wheel):
    _security_configuration(emr_stub)
    emr_stub.add_response("run_job_flow", {"JobFlowId": "j-STUBBED00001"}, _expected_run_job_flow(
        wheel.name, keep_alive=True, idle_timeout=3600, core=2, itype="m5.xlarge", release="emr-7.9.0"))
    _bpa(emr_stub)
    emr_stub.add_response("describe_cluster", _cluster("STARTING"), {"ClusterId": "j-STUBBED00001"})
    failed = _cluster("TERMINATED_WITH_ERRORS")
    failed["Cluster"]["Status"]["StateChangeReason"] = {
        "Code": "VALIDATION_ERROR", "Message": "Service role fruits-emr-service-role has insufficient EC2 permissions"}
    for _ in range(2):  # the waiter's last poll, then the summary
        emr_stub.add_response("describe_cluster", failed, {"ClusterId": "j-STUBBED00001"})

    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", "--wait")

    assert result.code == 1
    assert ("cluster j-STUBBED00001: TERMINATED_WITH_ERRORS: VALIDATION_ERROR Service role fruits-emr-service-role "
            "has insufficient EC2 permissions") in result.out
