"""The exact EMR requests of `up`, `run` and `submit` (pure functions: easy to read, test and print in a dry run).

Python on the cluster: EMR 7 runs Amazon Linux 2023, whose python3 is 3.9, and TensorFlow 2.21 needs Python >= 3.10.
The bootstrap script installs AL2023's `python3.11` into a venv with pinned dependencies, and Spark is told to
use it everywhere (spark-env for the daemons, spark-defaults and the step's --conf for YARN containers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import CloudUsageError

DEFAULT_RELEASE = "emr-7.9.0"  # Spark 3.5 on Amazon Linux 2023
DEFAULT_INSTANCE_TYPE = "m5.xlarge"
DEFAULT_CORE_NODES = 2
DEFAULT_IDLE_TIMEOUT = 3600
VENV_PYTHON = "/opt/fruits/venv/bin/python"
MANAGED_POLICY_TAG = "for-use-with-amazon-emr-managed-policies"
# Root EBS volume of every node, GiB (EMR's default is 15): the venv is about 1.9 GB and the root volume also holds
# /tmp, pip's cache during the bootstrap, the model and the logs before they are pushed (docs/cloud.md, "Sizing").
DEFAULT_ROOT_VOLUME_GIB = 30
# YARN containers of the Spark driver and executors: JVM heap + overhead. The overhead holds the Python workers,
# each with TensorFlow and the model (about 0.8 GiB each, 4 per executor), so it is as large as the heap; an
# executor's container (8 GiB) and the driver's (4 GiB) fit together in an m5.xlarge's YARN memory (12 GiB).
# docs/cloud.md, "Sizing", has the measurement.
DRIVER_MEMORY, DRIVER_MEMORY_OVERHEAD = "2g", "2g"
EXECUTOR_MEMORY, EXECUTOR_MEMORY_OVERHEAD = "4g", "4g"
BUCKET_TAG = "fruits:bucket"

_RELEASE = re.compile(r"^emr-(\d+)\.(\d+)\.(\d+)$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


@dataclass(frozen=True)
class ClusterSpec:
    """Everything that decides what cluster EMR starts."""

    bucket: str
    region: str
    service_role: str
    instance_profile: str
    bootstrap_uri: str
    wheel_uri: str
    release: str = DEFAULT_RELEASE
    instance_type: str = DEFAULT_INSTANCE_TYPE
    core_nodes: int = DEFAULT_CORE_NODES
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    name: str | None = None
    keep_alive: bool = True  # False: a transient cluster that ends with its last step
    extra_tags: dict[str, str] = field(default_factory=dict)
    subnet_id: str | None = None  # None: EMR's choice (only in a dry run or a test: `up`/`run` always give one)
    security_configuration: str | None = None  # the EMR security configuration (disk encryption)
    root_volume_gib: int = DEFAULT_ROOT_VOLUME_GIB
    spot_core: bool = False  # core nodes on Spot (the primary node stays On-Demand)
    notebook: bool = False  # JupyterHub + Livy on the primary node, reached through an SSM port forward only

    @property
    def log_uri(self) -> str:
        return f"s3://{self.bucket}/logs/"

    @property
    def cluster_name(self) -> str:
        return self.name or f"fruits-{self.bucket}"

    def validated(self) -> ClusterSpec:
        validate_release(self.release)
        if not _INSTANCE_TYPE.match(self.instance_type):
            raise CloudUsageError(f"bad --instance-type {self.instance_type!r}: e.g. m5.xlarge")
        if not 0 <= self.core_nodes <= 100:
            raise CloudUsageError(f"bad --core-nodes {self.core_nodes}: give 0 to 100")
        if not 15 <= self.root_volume_gib <= 1000:
            raise CloudUsageError(f"bad --root-volume {self.root_volume_gib}: give 15 to 1000 GiB")
        if self.subnet_id is not None and not re.match(r"^subnet-[0-9a-f]{8,17}$", self.subnet_id):
            raise CloudUsageError(f"bad --subnet {self.subnet_id!r}: subnet ids look like subnet-0123456789abcdef0")
        if not 60 <= self.idle_timeout <= 7 * 24 * 3600:
            raise CloudUsageError(f"bad --idle-timeout {self.idle_timeout}: give 60 to 604800 seconds")
        return self


def validate_release(release: str) -> str:
    match = _RELEASE.match(release or "")
    if not match:
        raise CloudUsageError(f"bad --release {release!r}: give an EMR release label such as {DEFAULT_RELEASE}")
    if int(match.group(1)) < 7:
        raise CloudUsageError(
            f"--release {release} is older than EMR 7: its Amazon Linux 2 has no Python >= 3.10 package, which "
            f"TensorFlow needs; use {DEFAULT_RELEASE} or later"
        )
    return release


def memory_settings() -> dict[str, str]:
    return {"spark.driver.memory": DRIVER_MEMORY, "spark.driver.memoryOverhead": DRIVER_MEMORY_OVERHEAD,
            "spark.executor.memory": EXECUTOR_MEMORY, "spark.executor.memoryOverhead": EXECUTOR_MEMORY_OVERHEAD}


def spark_configurations() -> list[dict[str, Any]]:
    python = {"PYSPARK_PYTHON": VENV_PYTHON, "PYSPARK_DRIVER_PYTHON": VENV_PYTHON}
    return [
        {"Classification": "spark-env", "Properties": {},
         "Configurations": [{"Classification": "export", "Properties": python}]},
        {"Classification": "spark-defaults", "Properties": {
            "spark.pyspark.python": VENV_PYTHON,
            "spark.pyspark.driver.python": VENV_PYTHON,
            "spark.yarn.appMasterEnv.PYSPARK_PYTHON": VENV_PYTHON,
            "spark.executorEnv.PYSPARK_PYTHON": VENV_PYTHON,
            # YARN kills a container that goes over heap + overhead; TensorFlow in the Python workers lives in
            # the overhead (docs/cloud.md, "Sizing").
            **memory_settings(),
        }},
    ]


# The notebook (`up --notebook`): JupyterHub on the primary node (port 9443, HTTPS) with sparkmagic's PySpark
# kernel, whose Spark sessions Livy starts on YARN with the spark-defaults above, i.e. in the fruits venv. No
# port is opened: users reach 9443 through an SSM Session Manager port forward (docs/cloud.md, "The notebook").
NOTEBOOK_APPLICATIONS = ("JupyterHub", "Livy")
NOTEBOOK_PORT = 9443


def applications(notebook: bool) -> list[dict[str, str]]:
    return [{"Name": name} for name in ("Spark", *(NOTEBOOK_APPLICATIONS if notebook else ()))]


def tags(spec: ClusterSpec) -> list[dict[str, str]]:
    values = {"project": "fruits", BUCKET_TAG: spec.bucket, MANAGED_POLICY_TAG: "true", **spec.extra_tags}
    return [{"Key": k, "Value": v} for k, v in values.items()]


def run_job_flow_request(spec: ClusterSpec, steps: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The RunJobFlow request: Spark only, no SSH key, logs in the bucket, auto-termination when idle."""
    spec = spec.validated()
    groups = [{"Name": "primary", "InstanceRole": "MASTER", "Market": "ON_DEMAND",
               "InstanceType": spec.instance_type, "InstanceCount": 1}]
    if spec.core_nodes:
        # Spot without a BidPrice: EMR caps the price at the On-Demand price.
        groups.append({"Name": "core", "InstanceRole": "CORE", "Market": "SPOT" if spec.spot_core else "ON_DEMAND",
                       "InstanceType": spec.instance_type, "InstanceCount": spec.core_nodes})
    request: dict[str, Any] = {
        "Name": spec.cluster_name,
        "LogUri": spec.log_uri,
        "ReleaseLabel": spec.release,
        "Applications": applications(spec.notebook),
        "Instances": {
            "InstanceGroups": groups,
            # No Ec2KeyName: nobody can SSH in; EMR's block public access keeps ports closed to the internet.
            "KeepJobFlowAliveWhenNoSteps": spec.keep_alive,
            "TerminationProtected": False,
        },
        "BootstrapActions": [{
            "Name": "fruits python3.11 venv",
            "ScriptBootstrapAction": {"Path": spec.bootstrap_uri, "Args": [spec.wheel_uri]},
        }],
        "Configurations": spark_configurations(),
        "ServiceRole": spec.service_role,
        "JobFlowRole": spec.instance_profile,
        "VisibleToAllUsers": True,
        "Tags": tags(spec),
        # The cluster ends itself after this many idle seconds: a forgotten `up` stops costing money.
        "AutoTerminationPolicy": {"IdleTimeout": spec.idle_timeout},
        "StepConcurrencyLevel": 1,
    }
    if spec.subnet_id:
        request["Instances"]["Ec2SubnetId"] = spec.subnet_id
    if spec.security_configuration:
        request["SecurityConfiguration"] = spec.security_configuration
    request["EbsRootVolumeSize"] = spec.root_volume_gib
    if steps:
        request["Steps"] = list(steps)
    return request


def spark_step(
    entry_uri: str,
    run_args: Sequence[str],
    name: str = "fruits run",
    action_on_failure: str = "CONTINUE",
) -> dict[str, Any]:
    """A `spark-submit --deploy-mode cluster` step (command-runner.jar) running `fruits run` with `run_args`."""
    return {
        "Name": name,
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [
                "spark-submit",
                "--deploy-mode", "cluster",
                "--master", "yarn",
                "--conf", f"spark.yarn.appMasterEnv.PYSPARK_PYTHON={VENV_PYTHON}",
                "--conf", f"spark.executorEnv.PYSPARK_PYTHON={VENV_PYTHON}",
                *[part for key, value in memory_settings().items() for part in ("--conf", f"{key}={value}")],
                entry_uri,
                *run_args,
            ],
        },
    }
