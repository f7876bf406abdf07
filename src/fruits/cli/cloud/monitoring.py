"""`fruits cloud status`, `logs` and `down`: what runs and what it costs, a step's logs, a cluster stopped."""

from __future__ import annotations

import argparse

from ...cloud.errors import CloudUsageError
from ...cloud.waiting import Waits
from .clients import Aws, waits_for


def status(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud.monitor import cluster_costs
    from ...cloud.pricing import PRICES_AS_OF

    costs = cluster_costs(aws.emr, aws.region)
    if not costs:
        aws.say(f"no active EMR cluster in {aws.region}: nothing there costs EMR money now")
        return 0
    aws.say(f"{'CLUSTER':<18} {'NAME':<28} {'STATE':<14} {'UP':>7} {'NODES':<22} {'$/HOUR':>7} {'SO FAR':>8}")
    total = 0.0
    for c in costs:
        nodes = ", ".join(f"{n} x {t}" for t, n in c.nodes.items()) or "-"
        per_hour = f"{c.per_hour:.2f}" if c.per_hour is not None else "?"
        so_far = f"{c.so_far:.2f}" if c.so_far is not None else "?"
        total += c.so_far or 0.0
        aws.say(f"{c.cluster_id:<18} {c.name[:28]:<28} {c.state:<14} {c.hours:>6.1f}h {nodes:<22} {per_hour:>7} "
                f"{so_far:>8}")
    aws.say(f"total so far: ~${total:.2f} (approximate: on-demand prices of {PRICES_AS_OF}, EC2 + EMR, "
            "without EBS, S3 and transfer)")
    return 0


def logs(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import emr as emr_api
    from ...cloud.monitor import step_logs

    emr_api.validate_cluster_id(args.cluster)
    if args.step:
        emr_api.validate_step_id(args.step)
    if args.tail is not None and args.tail < 1:
        raise CloudUsageError(f"bad --tail {args.tail}: give 1 or more lines")
    if aws.recorder is not None:
        aws.recorder.assume_cluster(args.cluster, bucket="the-cluster-log-bucket")
        aws.recorder.assume_steps()
    logs = step_logs(aws.emr, aws.s3, args.cluster, args.step, args.tail)
    aws.say(f"step {logs.step_id} ({logs.step_name}): {logs.state}; logs in {logs.location}")
    for name, text in logs.files.items():
        aws.say(f"----- {name} -----")
        aws.say(text.rstrip() if text is not None else "(not in S3 yet: EMR copies step logs every few minutes)")
    return 0


def down(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import emr as emr_api
    from ...cloud import monitor

    emr_api.validate_cluster_id(args.cluster)
    if aws.recorder is not None:
        aws.recorder.assume_cluster(args.cluster)
    waits = waits_for(args, aws.dry_run)
    if args.no_wait:
        waits = Waits(enabled=False)
    result = monitor.down(aws.emr, args.cluster, waits)
    if result.before == result.after:
        aws.say(f"cluster {args.cluster} was already {result.after}")
    else:
        aws.say(f"cluster {args.cluster}: {result.before} -> {result.after}")
    return 0


def write_report(aws: Aws, cluster_id: str, step_id: str | None, report_dir: str) -> None:
    """Rebuild the run report from EMR and S3 and write it locally and next to the output (not in a dry run)."""
    from pathlib import Path

    from ...cloud.report import build_report, report_text, save_report

    report = build_report(aws.emr, aws.s3, cluster_id, step_id)
    aws.say(report_text(report).rstrip())
    if aws.dry_run:
        return
    for where in save_report(aws.s3, report, Path(report_dir)):
        aws.say(f"run report: {where}")


def report(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import emr as emr_api

    emr_api.validate_cluster_id(args.cluster)
    if args.step:
        emr_api.validate_step_id(args.step)
    write_report(aws, args.cluster, args.step, args.report_dir)
    return 0
