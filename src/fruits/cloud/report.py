"""The run report: the evidence of one `fruits run` step on EMR, rebuilt from what EMR and S3 recorded.

Everything comes from AWS's own records, not from our clock: the cluster's and the step's Status.Timeline
(EMR's API does not separate provisioning from bootstrap: both are the cluster's start-up, CreationDateTime to
ReadyDateTime), the instance groups, the step's arguments (which name the OUTPUT), and OUTPUT/manifest.json that
`fruits run` wrote last (n images, k, its own timings). The cost is the estimate of `pricing` applied to the
measured times. The report goes to a local folder (JSON and a short text) and next to the output in S3
(OUTPUT.run-report.json / .txt); `fruits cloud report CLUSTER` rebuilds it at any time.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..storage import split_s3
from . import emr as emr_api
from . import s3 as s3_api
from .cluster import DEFAULT_ROOT_VOLUME_GIB
from .errors import StepNotFoundError
from .pricing import PRICES_AS_OF, cluster_price, hours_between

ENTRY_SCRIPT = "fruits_emr_entry.py"
MANIFEST_KEYS = ("status", "n_input", "n_features", "n_errors", "k", "cumulative_variance", "image_size",
                 "weights", "engine", "timings_s")


def _seconds(start: _dt.datetime | None, end: _dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 1)


def _latest(*moments: _dt.datetime | None) -> _dt.datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _reason(status: Mapping[str, Any]) -> str | None:
    reason = status.get("StateChangeReason") or {}
    failure = status.get("FailureDetails") or {}
    parts = [reason.get("Code"), reason.get("Message"), failure.get("Reason"), failure.get("Message")]
    return "; ".join(str(p) for p in parts if p) or None


def step_locations(args: list[str]) -> tuple[str | None, str | None]:
    """(INPUT, OUTPUT) of a fruits step: the two arguments after the entry script."""
    for i, arg in enumerate(args):
        if arg.endswith(ENTRY_SCRIPT) and len(args) > i + 2:
            return args[i + 1], args[i + 2]
    return None, None


def _pick_step(emr, cluster_id: str, step_id: str | None) -> dict[str, Any]:
    if step_id:
        return emr_api.describe_step(emr, cluster_id, step_id)
    steps = [s for s in emr_api.list_steps(emr, cluster_id)
             if any(a.endswith(ENTRY_SCRIPT) for a in s.get("Config", {}).get("Args", []))]
    if not steps:
        raise StepNotFoundError(f"cluster {cluster_id} has no `fruits run` step to report on")
    return emr_api.describe_step(emr, cluster_id, steps[0]["Id"])  # newest first


def _manifest(s3, output: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not output or not output.startswith(("s3://", "s3a://", "s3n://")):
        return None, "the step has no s3:// OUTPUT"
    bucket, prefix = split_s3(output)
    data = s3_api.get_object_bytes(s3, bucket, f"{prefix.rstrip('/')}/manifest.json")
    if data is None:
        return None, f"no manifest.json in {output} (the run did not succeed, or has not ended)"
    try:
        manifest = json.loads(data)
    except ValueError:
        return None, f"{output}/manifest.json is not JSON"
    return {k: manifest.get(k) for k in MANIFEST_KEYS if k in manifest}, None


def build_report(emr, s3, cluster_id: str, step_id: str | None = None,
                 now: _dt.datetime | None = None) -> dict[str, Any]:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    cluster = emr_api.describe_cluster(emr, cluster_id)
    status = cluster.get("Status", {})
    timeline = status.get("Timeline", {})
    created, ready, ended = (timeline.get("CreationDateTime"), timeline.get("ReadyDateTime"),
                             timeline.get("EndDateTime"))
    groups = emr_api.list_instance_groups(emr, cluster_id)
    instances = [{"role": g.get("InstanceGroupType"), "type": g.get("InstanceType"), "market": g.get("Market"),
                  "count": max(g.get("RequestedInstanceCount", 0) or 0, g.get("RunningInstanceCount", 0) or 0)}
                 for g in groups]
    step = _pick_step(emr, cluster_id, step_id)
    step_status = step.get("Status", {})
    step_timeline = step_status.get("Timeline", {})
    step_start, step_end = step_timeline.get("StartDateTime"), step_timeline.get("EndDateTime")
    input_uri, output_uri = step_locations(step.get("Config", {}).get("Args", []))
    manifest, manifest_note = _manifest(s3, output_uri)
    log_uri = (cluster.get("LogUri") or "").replace("s3n://", "s3://")
    region = emr.meta.region_name
    root = cluster.get("EbsRootVolumeSize") or DEFAULT_ROOT_VOLUME_GIB
    report: dict[str, Any] = {
        "cluster_id": cluster_id,
        "cluster_name": cluster.get("Name"),
        "release": cluster.get("ReleaseLabel"),
        "region": region,
        "cluster_state": status.get("State"),
        "cluster_state_reason": _reason(status),
        "instances": instances,
        "root_volume_gib": root,
        "timeline": {"created": _iso(created), "ready": _iso(ready), "ended": _iso(ended)},
        "phases_s": {
            "startup_provisioning_and_bootstrap": _seconds(created, ready),
            # from when the step could start (the cluster ready, or the step added to a running cluster)
            "step_queued": _seconds(_latest(ready, step_timeline.get("CreationDateTime")), step_start),
            "step_running": _seconds(step_start, step_end),
            "shutdown": _seconds(step_end, ended),
            "cluster_total": _seconds(created, ended or now),
        },
        "step": {"id": step.get("Id"), "name": step.get("Name"), "state": step_status.get("State"),
                 "state_reason": _reason(step_status), "input": input_uri, "output": output_uri,
                 "log_location": f"{log_uri}{cluster_id}/steps/{step.get('Id')}/" if log_uri else None},
        "manifest": manifest,
        "manifest_note": manifest_note,
        "cost": _cost(instances, region, root, created, ended or now, ended is None),
        "generated_at": now.isoformat(),
    }
    return report


def _cost(instances, region, root, created, end, still_running: bool) -> dict[str, Any]:
    types = {i["type"] for i in instances}
    core = sum(i["count"] for i in instances if i["role"] != "MASTER")
    price = cluster_price(types.pop(), core, region, root) if len(types) == 1 and created else None
    hours = hours_between(created, end) if created else None
    return {
        "per_hour_usd": round(price.per_hour, 4) if price else None,
        "hours": round(hours, 4) if hours is not None else None,
        "estimate_usd": round(price.per_hour * hours, 4) if price and hours is not None else None,
        "items_per_hour_usd": ({"nodes_ec2_emr": round(price.nodes, 4), "ebs": round(price.ebs, 4),
                                "public_ipv4": round(price.public_ipv4, 4)} if price else None),
        "basis": f"approximate On-Demand prices of {PRICES_AS_OF} (Spot priced as On-Demand), without S3 and VAT"
                 + ("; the cluster still runs: cost so far" if still_running else ""),
    }


def report_text(report: Mapping[str, Any]) -> str:
    phases = report["phases_s"]
    step = report["step"]
    cost = report["cost"]
    manifest = report.get("manifest") or {}

    def minutes(value: float | None) -> str:
        return "?" if value is None else f"{value / 60:.1f} min"

    nodes = ", ".join(f"{i['count']} x {i['type']} ({i['role'].lower()}, {str(i['market']).lower()})"
                      for i in report["instances"])
    lines = [
        f"fruits run on EMR: cluster {report['cluster_id']} ({report['release']}, {report['region']}), "
        f"{report['cluster_state']}",
        f"nodes: {nodes}; root volume {report['root_volume_gib']} GiB",
        f"start-up (provisioning + bootstrap): {minutes(phases['startup_provisioning_and_bootstrap'])}; "
        f"step queued: {minutes(phases['step_queued'])}; step: {minutes(phases['step_running'])}; "
        f"shutdown: {minutes(phases['shutdown'])}; cluster total: {minutes(phases['cluster_total'])}",
        f"step {step['id']}: {step['state']}" + (f" ({step['state_reason']})" if step.get("state_reason") else ""),
        f"logs: {step['log_location']}",
        f"output: {step['output']}",
    ]
    if manifest:
        timings = manifest.get("timings_s") or {}
        lines.append(f"manifest: {manifest.get('n_features')} of {manifest.get('n_input')} images featurized, "
                     f"{manifest.get('n_errors')} errors, k={manifest.get('k')}, "
                     f"variance {manifest.get('cumulative_variance')}, engine {manifest.get('engine')}, "
                     f"timings {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}")
    else:
        lines.append(f"manifest: {report.get('manifest_note')}")
    if cost["estimate_usd"] is not None:
        lines.append(f"estimated cost: ~${cost['estimate_usd']:.2f} ({cost['hours']:.2f} h x "
                     f"${cost['per_hour_usd']:.2f}/h; {cost['basis']})")
    else:
        lines.append("estimated cost: unknown (instance type not in the price table)")
    return "\n".join(lines) + "\n"


def report_locations(report: Mapping[str, Any]) -> tuple[str, str] | None:
    """(bucket, key prefix) next to the output: OUTPUT.run-report.json and .txt."""
    output = report["step"].get("output")
    if not output or not output.startswith(("s3://", "s3a://", "s3n://")):
        return None
    bucket, prefix = split_s3(output)
    return bucket, prefix.rstrip("/") + ".run-report"


def save_report(s3, report: Mapping[str, Any], local_dir: Path) -> list[str]:
    """Write the report (JSON + text) to local_dir and next to the output in S3; returns where it went."""
    text = report_text(report)
    document = json.dumps(report, indent=2, sort_keys=False) + "\n"
    local_dir.mkdir(parents=True, exist_ok=True)
    base = local_dir / f"fruits-run-report-{report['cluster_id']}-{report['step']['id']}"
    base.with_suffix(".json").write_text(document, encoding="utf-8")
    base.with_suffix(".txt").write_text(text, encoding="utf-8")
    written = [str(base.with_suffix(".json")), str(base.with_suffix(".txt"))]
    location = report_locations(report)
    if location is not None:
        bucket, key = location
        for suffix, body, kind in ((".json", document.encode(), "application/json"),
                                   (".txt", text.encode(), "text/plain; charset=utf-8")):
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - S3's integrity check
            s3_api.put_object(s3, bucket, key + suffix, body, md5, {}, content_type=kind)
        written += [f"s3://{bucket}/{key}.json", f"s3://{bucket}/{key}.txt"]
    return written
