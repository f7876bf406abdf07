"""The run report: `fruits cloud report CLUSTER` on the moto server, and the phase times and cost from EMR's
timelines (Stubber: moto's clusters and steps keep no timeline of phases)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from botocore.stub import Stubber

from fruits.cloud import pricing
from fruits.cloud.report import build_report, report_text, step_locations

from .conftest import BUCKET, REGION

MANIFEST = {"status": "succeeded", "n_input": 4000, "n_features": 3998, "n_errors": 2, "k": 50,
            "cumulative_variance": 0.81, "image_size": 160, "weights": "imagenet", "engine": "litert",
            "timings_s": {"featurize": 301.5, "pca": 12.25}, "other": "not copied"}


def _up_and_submit(cli, wheel) -> str:
    up = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", "--core-nodes", "1")
    assert up.code == 0, up.err
    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", up.out).group(1)
    submit = cli("cloud", "submit", cluster_id, "--input", f"s3://{BUCKET}/data/photos", "--output",
                 f"s3://{BUCKET}/out/run1", "--k", "50")
    assert submit.code == 0, submit.err
    return cluster_id


def test_report_rebuilds_the_evidence_of_a_run_locally_and_next_to_the_output(cli, boto, ready_bucket, wheel,
                                                                             tmp_path):
    cluster_id = _up_and_submit(cli, wheel)
    s3 = boto("s3")
    s3.put_object(Bucket=BUCKET, Key="out/run1/manifest.json", Body=json.dumps(MANIFEST).encode())
    [step] = boto("emr").list_steps(ClusterId=cluster_id)["Steps"]

    result = cli("cloud", "report", cluster_id, "--report-dir", str(tmp_path))

    assert result.code == 0, result.err
    local = json.loads((tmp_path / f"fruits-run-report-{cluster_id}-{step['Id']}.json").read_text())
    assert local["cluster_id"] == cluster_id and local["region"] == REGION and local["release"] == "emr-7.9.0"
    assert sorted((i["role"], i["type"], i["count"]) for i in local["instances"]) == [
        ("CORE", "m5.xlarge", 1), ("MASTER", "m5.xlarge", 1)]
    assert local["step"]["id"] == step["Id"]
    assert local["step"]["output"] == f"s3://{BUCKET}/out/run1"
    assert local["step"]["log_location"] == f"s3://{BUCKET}/logs/{cluster_id}/steps/{step['Id']}/"
    assert local["manifest"] == {k: v for k, v in MANIFEST.items() if k != "other"}
    assert local["cost"]["per_hour_usd"] == pytest.approx(
        pricing.cluster_hourly_cost("m5.xlarge", 1, REGION, 30), abs=1e-4)
    in_s3 = json.loads(s3.get_object(Bucket=BUCKET, Key="out/run1.run-report.json")["Body"].read())
    assert in_s3 == local
    text = s3.get_object(Bucket=BUCKET, Key="out/run1.run-report.txt")["Body"].read().decode()
    assert "manifest: 3998 of 4000 images featurized, 2 errors, k=50" in text
    assert text.rstrip() in result.out


def test_report_without_a_manifest_says_why(cli, boto, ready_bucket, wheel, tmp_path):
    cluster_id = _up_and_submit(cli, wheel)

    result = cli("cloud", "report", cluster_id, "--report-dir", str(tmp_path))

    assert result.code == 0, result.err
    assert f"manifest: no manifest.json in s3://{BUCKET}/out/run1 (the run did not succeed, or has not ended)" \
        in result.out


def test_report_of_a_cluster_without_a_fruits_step(cli, ready_bucket, wheel, tmp_path):
    up = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")
    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", up.out).group(1)

    result = cli("cloud", "report", cluster_id, "--report-dir", str(tmp_path))

    assert result.code == 2 and f"cluster {cluster_id} has no `fruits run` step to report on" in result.err


T0 = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone.utc)


def test_phase_times_and_cost_come_from_emrs_timelines(boto, ready_bucket):
    boto("s3").put_object(Bucket=BUCKET, Key="out/run1/manifest.json", Body=json.dumps(MANIFEST).encode())
    emr = boto("emr")
    args = ["spark-submit", f"s3://{BUCKET}/code/fruits_emr_entry.py", f"s3://{BUCKET}/in", f"s3://{BUCKET}/out/run1"]
    minutes = dt.timedelta(minutes=1)
    with Stubber(emr) as stub:
        stub.add_response("describe_cluster", {"Cluster": {
            "Id": "j-STUBBED00001", "Name": "fruits-b", "ReleaseLabel": "emr-7.9.0", "LogUri": f"s3n://{BUCKET}/logs/",
            "EbsRootVolumeSize": 30, "Status": {"State": "TERMINATED", "StateChangeReason": {
                "Code": "ALL_STEPS_COMPLETED", "Message": "Steps completed"},
                "Timeline": {"CreationDateTime": T0, "ReadyDateTime": T0 + 14 * minutes,
                             "EndDateTime": T0 + 27 * minutes}}}})
        stub.add_response("list_instance_groups", {"InstanceGroups": [
            {"InstanceGroupType": "MASTER", "InstanceType": "m5.xlarge", "Market": "ON_DEMAND",
             "RequestedInstanceCount": 1},
            {"InstanceGroupType": "CORE", "InstanceType": "m5.xlarge", "Market": "SPOT",
             "RequestedInstanceCount": 2}]})
        stub.add_response("describe_step", {"Step": {
            "Id": "s-STUBBED00001", "Name": "fruits run", "Config": {"Jar": "command-runner.jar", "Args": args},
            "Status": {"State": "COMPLETED", "Timeline": {
                "CreationDateTime": T0, "StartDateTime": T0 + 15 * minutes, "EndDateTime": T0 + 25 * minutes}}}})

        report = build_report(emr, boto("s3"), "j-STUBBED00001", "s-STUBBED00001", now=T0 + 60 * minutes)

    assert report["phases_s"] == {"startup_provisioning_and_bootstrap": 840.0, "step_queued": 60.0,
                                  "step_running": 600.0, "shutdown": 120.0, "cluster_total": 1620.0}
    assert report["cluster_state_reason"] == "ALL_STEPS_COMPLETED; Steps completed"
    per_hour = pricing.cluster_hourly_cost("m5.xlarge", 2, "eu-west-3", 30)
    assert report["cost"]["hours"] == pytest.approx(27 / 60, abs=1e-4)
    assert report["cost"]["estimate_usd"] == pytest.approx(per_hour * 27 / 60, abs=1e-3)
    text = report_text(report)
    assert "start-up (provisioning + bootstrap): 14.0 min; step queued: 1.0 min; step: 10.0 min" in text
    assert "2 x m5.xlarge (core, spot)" in text
    assert "timings featurize 302 s, pca 12 s" in text


@pytest.mark.parametrize("args, expected", [
    (["spark-submit", "s3://b/code/fruits_emr_entry.py", "s3://b/in", "s3://b/out", "--k", "3"],
     ("s3://b/in", "s3://b/out")),
    (["spark-submit", "--deploy-mode", "cluster", "s3://b/code/other.py", "a", "b"], (None, None)),
    (["spark-submit", "s3://b/code/fruits_emr_entry.py", "s3://b/in"], (None, None)),
])
def test_step_locations(args, expected):
    assert step_locations(args) == expected
