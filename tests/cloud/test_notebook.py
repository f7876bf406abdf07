"""`fruits cloud up --notebook`: JupyterHub and Livy on the cluster, Spark in the fruits venv, reachable only
through an SSM port forward (moto server and --dry-run)."""

from __future__ import annotations

import json
import re

from .conftest import BUCKET

VENV_PYTHON = "/opt/fruits/venv/bin/python"
SSM = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def test_up_notebook_adds_jupyterhub_and_livy_and_ssm_only(cli, boto, ready_bucket, wheel):
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0", "--notebook")

    assert result.code == 0, result.err
    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", result.out).group(1)
    cluster = boto("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert sorted(a["Name"] for a in cluster["Applications"]) == ["JupyterHub", "Livy", "Spark"]
    # The kernel's Spark (Livy runs spark-submit with spark-defaults) uses the fruits venv.
    defaults = next(c for c in cluster["Configurations"] if c["Classification"] == "spark-defaults")
    assert defaults["Properties"]["spark.pyspark.python"] == VENV_PYTHON
    assert "Ec2KeyName" not in cluster["Ec2InstanceAttributes"]  # no SSH key: SSM is the only way in
    iam = boto("iam")
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=f"fruits-emr-ec2-{BUCKET}")[
        "AttachedPolicies"]]
    assert attached == [SSM]
    assert "AWS-StartPortForwardingSession --parameters portNumber=9443,localPortNumber=9443" in result.out
    assert "open https://localhost:9443" in result.out


def test_without_notebook_there_is_no_jupyter_and_no_ssm(cli, boto, ready_bucket, wheel):
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--poll", "0")

    cluster_id = re.search(r"\b(j-[A-Z0-9]+)\b", result.out).group(1)
    cluster = boto("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert [a["Name"] for a in cluster["Applications"]] == ["Spark"]
    assert boto("iam").list_attached_role_policies(RoleName=f"fruits-emr-ec2-{BUCKET}")["AttachedPolicies"] == []
    assert "9443" not in result.out


def test_up_notebook_dry_run_shows_the_applications_and_no_open_port(cli, wheel):
    result = cli("cloud", "up", "--bucket", BUCKET, "--wheel", str(wheel), "--notebook", "--dry-run")

    assert result.code == 0, result.err
    requests = result.json()
    [run] = [r for r in requests if r["operation"] == "RunJobFlow"]
    assert run["params"]["Applications"] == [{"Name": "Spark"}, {"Name": "JupyterHub"}, {"Name": "Livy"}]
    instances = run["params"]["Instances"]
    assert "Ec2KeyName" not in instances and "AdditionalMasterSecurityGroups" not in instances
    attaches = [r["params"] for r in requests if r["operation"] == "AttachRolePolicy"]
    assert {"RoleName": f"fruits-emr-ec2-{BUCKET}", "PolicyArn": SSM} in attaches
    # Nothing anywhere opens a port.
    assert not [r for r in requests if "SecurityGroup" in r["operation"] and "Authorize" in r["operation"]]
    assert json.dumps(requests).count("9443") == 0
