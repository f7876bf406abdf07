"""`status`, `logs`, `down` and `submit --wait`: what runs, what it costs so far, what a step wrote, the end."""

from __future__ import annotations

import datetime as _dt
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import emr as emr_api
from . import s3 as s3_api
from .errors import ClusterStateError, StepNotFoundError
from .pricing import hourly_cost, hours_between
from .waiting import DEFAULT_WAITS, Waits

STEP_LOG_FILES = ("stderr", "stdout")
FINAL_STEP_STATES = ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED")


@dataclass(frozen=True)
class ClusterCost:
    cluster_id: str
    name: str
    state: str
    created: _dt.datetime
    hours: float
    nodes: dict[str, int]
    per_hour: float | None

    @property
    def so_far(self) -> float | None:
        return None if self.per_hour is None else self.per_hour * self.hours

    @property
    def is_fruits(self) -> bool:
        return self.name.startswith("fruits-")


def node_counts(groups: list[Mapping[str, Any]]) -> dict[str, int]:
    """{instance type: nodes} of a cluster's instance groups (requested counts: a conservative estimate)."""
    nodes: dict[str, int] = {}
    for group in groups:
        count = max(group.get("RequestedInstanceCount", 0) or 0, group.get("RunningInstanceCount", 0) or 0)
        nodes[group["InstanceType"]] = nodes.get(group["InstanceType"], 0) + count
    return nodes


def cluster_costs(emr, region: str, now: _dt.datetime | None = None) -> list[ClusterCost]:
    """Every active cluster of the region (fruits's or not: all of them cost money) with its cost so far."""
    costs = []
    for summary in emr_api.list_active_clusters(emr):
        try:
            nodes = node_counts(emr_api.list_instance_groups(emr, summary["Id"]))
        except emr.exceptions.ClientError:
            nodes = {}  # a cluster of instance fleets (not started by fruits): its cost is shown as unknown
        created = summary["Status"]["Timeline"]["CreationDateTime"]
        costs.append(ClusterCost(
            cluster_id=summary["Id"], name=summary.get("Name", ""), state=summary["Status"]["State"],
            created=created, hours=hours_between(created, now), nodes=nodes, per_hour=hourly_cost(nodes, region),
        ))
    return costs


# --- logs -------------------------------------------------------------------------------------------------------


@dataclass
class StepLogs:
    step_id: str
    step_name: str
    state: str
    location: str
    files: dict[str, str | None] = field(default_factory=dict)  # None: not uploaded (yet)


def _log_prefix(log_uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of a cluster's LogUri (EMR reports it as s3n://B/logs/)."""
    without_scheme = log_uri.split("://", 1)[-1]
    bucket, _, prefix = without_scheme.partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def _decode(data: bytes) -> str:
    try:
        data = gzip.decompress(data)
    except (OSError, EOFError):
        pass  # not gzipped (EMR gzips step logs; other tools may not)
    return data.decode("utf-8", errors="replace")


def step_logs(emr, s3, cluster_id: str, step_id: str | None = None, tail: int | None = None) -> StepLogs:
    """stderr and stdout of a step (the newest when no id is given), read from the cluster's S3 log URI."""
    cluster = emr_api.describe_cluster(emr, cluster_id)
    log_uri = cluster.get("LogUri")
    if not log_uri:
        raise ClusterStateError(f"cluster {cluster_id} has no log URI: its logs are not in S3")
    if step_id is None:
        steps = emr_api.list_steps(emr, cluster_id)
        if not steps:
            raise StepNotFoundError(f"cluster {cluster_id} has no step yet: add one with `fruits cloud submit`")
        step = steps[0]
    else:
        step = emr_api.describe_step(emr, cluster_id, step_id)
    bucket, prefix = _log_prefix(log_uri)
    step_prefix = f"{prefix}{cluster_id}/steps/{step['Id']}/"
    logs = StepLogs(step["Id"], step.get("Name", ""), step.get("Status", {}).get("State", "?"),
                    f"s3://{bucket}/{step_prefix}")
    for name in STEP_LOG_FILES:
        data = s3_api.get_object_bytes(s3, bucket, f"{step_prefix}{name}.gz")
        if data is None:
            data = s3_api.get_object_bytes(s3, bucket, f"{step_prefix}{name}")
        text = None if data is None else _decode(data)
        if text is not None and tail:
            text = "\n".join(text.splitlines()[-tail:])
        logs.files[name] = text
    return logs


# --- waiting for a step, ending a cluster -----------------------------------------------------------------------


def follow(
    emr, cluster_id: str, step_id: str, waits: Waits, on_poll: Callable[[dict[str, Any]], None] | None = None
) -> str:
    """Follow a step to its end (at most 12 hours); returns its final state."""
    return emr_api.follow_step(emr, cluster_id, step_id, waits.config(default_delay=30, max_wait_s=12 * 3600), on_poll)


@dataclass(frozen=True)
class Down:
    cluster_id: str
    before: str
    after: str


def down(emr, cluster_id: str, waits: Waits = DEFAULT_WAITS) -> Down:
    """Terminate the cluster and wait until it is gone (an unknown id is an error, a finished one is not)."""
    cluster = emr_api.describe_cluster(emr, cluster_id)
    before = cluster.get("Status", {}).get("State", "?")
    if before in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
        return Down(cluster_id, before, before)
    emr_api.terminate_job_flows(emr, cluster_id)
    if not waits.enabled:
        return Down(cluster_id, before, "TERMINATING")
    after = emr_api.wait_cluster_terminated(emr, cluster_id, waits.config(default_delay=30, max_wait_s=3600))
    return Down(cluster_id, before, after)


# --- why it failed ----------------------------------------------------------------------------------------------


def _reason(status: Mapping[str, Any]) -> str:
    reason = status.get("StateChangeReason") or {}
    text = " ".join(str(part) for part in (reason.get("Code"), reason.get("Message")) if part)
    failure = status.get("FailureDetails") or {}
    details = "; ".join(str(failure[k]) for k in ("Reason", "Message", "LogFile") if failure.get(k))
    return "; ".join(part for part in (text, details) if part) or "no reason given"


def failure_summary(emr, s3, cluster_id: str, step_id: str | None = None, tail: int = 20) -> list[str]:
    """Lines that say why a cluster or step failed: EMR's StateChangeReason (and a step's FailureDetails), then
    the last lines of the step's stderr from S3 when EMR has copied it there."""
    cluster = emr_api.describe_cluster(emr, cluster_id)
    status = cluster.get("Status", {})
    lines = [f"cluster {cluster_id}: {status.get('State', '?')}: {_reason(status)}"]
    if step_id is None:
        return lines
    step = emr_api.describe_step(emr, cluster_id, step_id)
    lines.append(f"step {step_id}: {step.get('Status', {}).get('State', '?')}: {_reason(step.get('Status', {}))}")
    try:
        logs = step_logs(emr, s3, cluster_id, step_id, tail=tail)
    except ClusterStateError:
        return lines
    stderr = logs.files.get("stderr")
    if stderr is None:
        lines.append(f"step stderr not in {logs.location} yet (EMR copies it every few minutes): "
                     f"`fruits cloud logs {cluster_id} --step {step_id}`")
    else:
        lines.append(f"last {tail} lines of {logs.location}stderr.gz:")
        lines += ["  " + line for line in stderr.splitlines()]
    return lines
