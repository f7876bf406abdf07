"""EMR calls, one function per API operation, and the waiters. The client is passed in.

An unknown cluster id becomes ClusterNotFoundError; everything else AWS says goes up as botocore's exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import WaiterError

from .errors import CloudUsageError, ClusterNotFoundError, StepNotFoundError, error_code, error_message

ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
_CLUSTER_ID = re.compile(r"^j-[A-Z0-9]{1,32}$")
_STEP_ID = re.compile(r"^s-[A-Z0-9]{1,32}$")


def validate_cluster_id(cluster_id: str) -> str:
    if not _CLUSTER_ID.match(cluster_id or ""):
        raise CloudUsageError(f"bad cluster id {cluster_id!r}: EMR cluster ids look like j-1ABCDEFGHIJKL")
    return cluster_id


def validate_step_id(step_id: str) -> str:
    if not _STEP_ID.match(step_id or ""):
        raise CloudUsageError(f"bad step id {step_id!r}: EMR step ids look like s-1ABCDEFGHIJKL")
    return step_id


def _not_found(exc: Exception) -> bool:
    # EMR answers an unknown id with InvalidRequestException "Cluster id 'j-...' is not valid."
    return error_code(exc) in ("InvalidRequestException", "ResourceNotFoundException") and (
        "not valid" in error_message(exc) or "not found" in error_message(exc).lower()
        or error_code(exc) == "ResourceNotFoundException"
    )


def run_job_flow(emr, request: Mapping[str, Any]) -> str:
    return emr.run_job_flow(**request)["JobFlowId"]


def describe_cluster(emr, cluster_id: str) -> dict[str, Any]:
    try:
        return emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    except emr.exceptions.ClientError as exc:
        if _not_found(exc):
            region = emr.meta.region_name
            raise ClusterNotFoundError(
                f"no EMR cluster {cluster_id} in {region}: see `fruits cloud status --region {region}`"
            ) from None
        raise


def list_active_clusters(emr) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = []
    for page in emr.get_paginator("list_clusters").paginate(ClusterStates=list(ACTIVE_STATES)):
        clusters += page.get("Clusters", [])
    return clusters


def list_instance_groups(emr, cluster_id: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for page in emr.get_paginator("list_instance_groups").paginate(ClusterId=cluster_id):
        groups += page.get("InstanceGroups", [])
    return groups


def add_job_flow_steps(emr, cluster_id: str, steps: list[Mapping[str, Any]]) -> list[str]:
    return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=list(steps))["StepIds"]


def list_steps(emr, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's steps, newest first (EMR's order)."""
    steps: list[dict[str, Any]] = []
    for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id):
        steps += page.get("Steps", [])
    return steps


def describe_step(emr, cluster_id: str, step_id: str) -> dict[str, Any]:
    try:
        step = emr.describe_step(ClusterId=cluster_id, StepId=step_id).get("Step")
    except emr.exceptions.ClientError as exc:
        if _not_found(exc):
            raise StepNotFoundError(f"cluster {cluster_id} has no step {step_id}") from None
        raise
    if not step:
        raise StepNotFoundError(f"cluster {cluster_id} has no step {step_id}")
    return step


def terminate_job_flows(emr, cluster_id: str) -> None:
    emr.terminate_job_flows(JobFlowIds=[cluster_id])


def get_security_configuration(emr, name: str) -> dict[str, Any] | None:
    """The configuration's JSON document, or None when there is none of that name."""
    try:
        document = emr.describe_security_configuration(Name=name)["SecurityConfiguration"]
    except emr.exceptions.ClientError as exc:
        # AWS: InvalidRequestException "Security configuration with name '...' does not exist."
        if error_code(exc) == "InvalidRequestException" or "NotFound" in error_code(exc):
            return None
        raise
    return json.loads(document)


def create_security_configuration(emr, name: str, document: Mapping[str, Any]) -> None:
    emr.create_security_configuration(Name=name, SecurityConfiguration=json.dumps(document))


def delete_security_configuration(emr, name: str) -> None:
    emr.delete_security_configuration(Name=name)


def get_block_public_access(emr) -> dict[str, Any]:
    return emr.get_block_public_access_configuration()["BlockPublicAccessConfiguration"]


def wait_cluster_running(emr, cluster_id: str, config: dict[str, int]) -> None:
    """Wait until the cluster is up (RUNNING or WAITING); a cluster that ends instead raises WaiterError."""
    emr.get_waiter("cluster_running").wait(ClusterId=cluster_id, WaiterConfig=config)


def wait_cluster_terminated(emr, cluster_id: str, config: dict[str, int]) -> str:
    """Wait until the cluster is gone; returns its final state (TERMINATED or TERMINATED_WITH_ERRORS)."""
    try:
        emr.get_waiter("cluster_terminated").wait(ClusterId=cluster_id, WaiterConfig=config)
    except WaiterError as exc:
        state = _state_in(exc.last_response, "Cluster")
        if state != "TERMINATED_WITH_ERRORS":  # the waiter counts that one as a failure; for `down` it is the end
            raise
        return state
    return "TERMINATED"


def follow_step(
    emr,
    cluster_id: str,
    step_id: str,
    config: dict[str, int],
    on_poll: Callable[[dict[str, Any]], None] | None = None,
) -> str:
    """Wait for the step to end with the `step_complete` waiter, reporting its state between waiter rounds.

    The waiter is run in rounds of two polls so the caller can print a progress line; the pacing (Delay) is
    still the waiter's. Returns the final state: COMPLETED, FAILED, CANCELLED or INTERRUPTED.
    """
    rounds = max(1, config["MaxAttempts"] // 2)
    for _ in range(rounds):
        try:
            emr.get_waiter("step_complete").wait(
                ClusterId=cluster_id, StepId=step_id, WaiterConfig={"Delay": config["Delay"], "MaxAttempts": 2}
            )
            return "COMPLETED"
        except WaiterError as exc:
            state = _state_in(exc.last_response, "Step")
            if state in ("FAILED", "CANCELLED", "INTERRUPTED"):
                return state
            if state is None:
                raise  # an AWS error inside the waiter, not a slow step
            if on_poll:
                on_poll(exc.last_response["Step"])
    raise WaiterError(name="StepComplete", reason="Max attempts exceeded", last_response={})


def _state_in(response: Mapping[str, Any] | None, kind: str) -> str | None:
    return ((response or {}).get(kind) or {}).get("Status", {}).get("State")
