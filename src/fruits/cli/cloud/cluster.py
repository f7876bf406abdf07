"""`fruits cloud up`, `run` and `submit`: a cluster started with the code, and `fruits run` as an EMR step."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ...cloud.waiting import Waits
from .clients import Aws, waits_for

log = logging.getLogger("fruits")


@contextlib.contextmanager
def _wheel(args: argparse.Namespace) -> Iterator[Path]:
    from ...cloud.package import build_wheel, check_wheel

    if args.wheel:
        yield check_wheel(args.wheel)
        return
    with tempfile.TemporaryDirectory(prefix="fruits-wheel-") as scratch:
        log.info("building the fruits wheel from this checkout")
        yield build_wheel(Path(scratch))


def _cluster_settings(args: argparse.Namespace) -> dict:
    return {"release": args.release, "instance_type": args.instance_type, "core_nodes": args.core_nodes,
            "idle_timeout": args.idle_timeout, "name": args.name, "root_volume_gib": args.root_volume,
            "spot_core": args.spot, "subnet_id": args.subnet}


def _placement_settings(args: argparse.Namespace) -> dict:
    return {"subnet": args.subnet, "kms_key": args.kms_key}


def _run_flags(args: argparse.Namespace) -> dict:
    from ...cloud.deploy import RUN_FLAGS

    flags = {name: getattr(args, name, None) for name in RUN_FLAGS}
    flags["overwrite"] = bool(getattr(args, "overwrite", False))
    flags["incremental"] = bool(getattr(args, "incremental", False))
    return flags


def _on_retry(message: str, delay: float) -> None:
    print(f"EMR does not see the new roles yet ({message}); retrying in {delay:.0f} s", file=sys.stderr)


def _warn_emr_public_access(aws: Aws) -> None:
    from ...cloud import emr as emr_api

    config = emr_api.get_block_public_access(aws.emr)
    if not config.get("BlockPublicSecurityGroupRules", False):
        print(f"WARNING: EMR block public access is OFF in {aws.region}: turn it on (EMR console > Block public "
              "access) so no cluster port can be opened to the internet", file=sys.stderr)


def _report_start(aws: Aws, started, what: str) -> None:
    from ...cloud.pricing import describe_estimate

    placement = started.prepared.placement
    if placement is not None:
        how = "chosen: the first subnet of the default VPC with a route to an internet gateway" if placement.chosen \
            else "given with --subnet"
        aws.say(f"subnet {placement.subnet_id} ({placement.availability_zone}, VPC {placement.vpc_id}), {how}")
    for change in started.prepared.changes:
        aws.say(change.line())
    upload = started.prepared.upload
    aws.say(f"code in s3://{started.spec.bucket}/code/: {len(upload.uploaded)} uploaded, {len(upload.skipped)} "
            "unchanged")
    spec = started.spec
    market = " (Spot)" if spec.spot_core else ""
    aws.say(f"{what} {started.cluster_id} starting in {spec.region}: {spec.release}, 1 primary + {spec.core_nodes} "
            f"core{market} x {spec.instance_type}, disks encrypted ({spec.security_configuration})")
    aws.say(f"estimated cost: {describe_estimate(started.per_hour)}")
    aws.say(f"logs: {spec.log_uri}{started.cluster_id}/")


def up(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import deploy
    from ...cloud import emr as emr_api

    waits = waits_for(args, aws.dry_run)
    settings = {**_cluster_settings(args), "notebook": args.notebook}
    deploy.check_settings(args.bucket, aws.region, **settings)
    with _wheel(args) as wheel:
        started = deploy.up(aws.deploy_clients(), args.bucket, aws.region, wheel, waits, on_retry=_on_retry,
                            **_placement_settings(args), **settings)
    _warn_emr_public_access(aws)
    _report_start(aws, started, "cluster")
    aws.say(f"auto-terminates after {started.spec.idle_timeout} s idle; stop it now with "
            f"`fruits cloud down {started.cluster_id} --region {aws.region}`")
    if started.spec.notebook:
        from ...cloud.cluster import NOTEBOOK_PORT

        aws.say(f"notebook: JupyterHub on the primary node, port {NOTEBOOK_PORT}, open to nobody; once the cluster "
                f"is WAITING, forward it (docs/cloud.md, \"The notebook\"):")
        aws.say(f"  aws ssm start-session --region {aws.region} --target $(aws emr list-instances --region "
                f"{aws.region} --cluster-id {started.cluster_id} --instance-group-types MASTER --query "
                "'Instances[0].Ec2InstanceId' --output text) --document-name AWS-StartPortForwardingSession "
                f"--parameters portNumber={NOTEBOOK_PORT},localPortNumber={NOTEBOOK_PORT}")
        aws.say(f"  then open https://localhost:{NOTEBOOK_PORT}")
    if args.wait and waits.enabled:
        from botocore.exceptions import WaiterError

        try:
            emr_api.wait_cluster_running(aws.emr, started.cluster_id, waits.config(default_delay=30, max_wait_s=3600))
        except WaiterError:
            from ...cloud.monitor import failure_summary

            for line in failure_summary(aws.emr, aws.s3, started.cluster_id):
                aws.say(line)
            return 1
        aws.say(f"cluster {started.cluster_id} is ready for `fruits cloud submit`")
    return 0


def _follow_step(aws: Aws, cluster_id: str, step_id: str, waits: Waits) -> str:
    from ...cloud.monitor import follow

    def on_poll(step: dict) -> None:
        timeline = step.get("Status", {}).get("Timeline", {})
        since = timeline.get("StartDateTime") or timeline.get("CreationDateTime")
        print(f"step {step_id}: {step.get('Status', {}).get('State')}" + (f" since {since:%H:%M:%S}" if since else ""),
              file=sys.stderr)

    return follow(aws.emr, cluster_id, step_id, waits, on_poll)


def _end_of_step(aws: Aws, cluster_id: str, step_id: str, state: str, log_uri: str) -> int:
    aws.say(f"step {step_id}: {state}")
    if state != "COMPLETED":
        from ...cloud.monitor import failure_summary

        for line in failure_summary(aws.emr, aws.s3, cluster_id, step_id):
            aws.say(line)
    aws.say(f"step logs: {log_uri}{cluster_id}/steps/{step_id}/ (`fruits cloud logs {cluster_id} --step {step_id} "
            f"--region {aws.region}`; EMR copies them to S3 every few minutes)")
    return 0 if state == "COMPLETED" else 1


def run(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import deploy
    from ...cloud import emr as emr_api

    waits = waits_for(args, aws.dry_run)
    deploy.check_settings(args.bucket, aws.region, **_cluster_settings(args))
    deploy.run_arguments(args.bucket, args.input, args.output, _run_flags(args))
    with _wheel(args) as wheel:
        started = deploy.run(aws.deploy_clients(), args.bucket, aws.region, wheel, args.input, args.output,
                             _run_flags(args), waits, on_retry=_on_retry, **_placement_settings(args),
                             **_cluster_settings(args))
    _warn_emr_public_access(aws)
    _report_start(aws, started, "transient cluster")
    aws.say(f"it runs one step and terminates itself (check with `fruits cloud status --region {aws.region}`)")
    if not (args.wait and waits.enabled and started.step_id):
        return 0
    state = _follow_step(aws, started.cluster_id, started.step_id, waits)
    code = _end_of_step(aws, started.cluster_id, started.step_id, state, started.spec.log_uri)
    config = waits.config(default_delay=30, max_wait_s=3600)
    final = emr_api.wait_cluster_terminated(aws.emr, started.cluster_id, config)
    aws.say(f"cluster {started.cluster_id}: {final}")
    if final != "TERMINATED" and code == 0:
        from ...cloud.monitor import failure_summary

        for line in failure_summary(aws.emr, aws.s3, started.cluster_id):
            aws.say(line)
    from .monitoring import write_report

    write_report(aws, started.cluster_id, started.step_id, args.report_dir)
    return code


def submit(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import deploy
    from ...cloud import emr as emr_api
    from ...storage import is_s3, split_s3

    emr_api.validate_cluster_id(args.cluster)
    if aws.recorder is not None and is_s3(args.input):
        # A dry run cannot ask which bucket the cluster was started for: assume the one of INPUT.
        aws.recorder.assume_cluster(args.cluster, bucket=split_s3(args.input)[0])
    waits = waits_for(args, aws.dry_run)
    step_id, bucket = deploy.submit(aws.emr, args.cluster, args.input, args.output, _run_flags(args))
    aws.say(f"step {step_id} added to cluster {args.cluster}: fruits run {args.input} {args.output}")
    if not (args.wait and waits.enabled):
        return 0
    state = _follow_step(aws, args.cluster, step_id, waits)
    code = _end_of_step(aws, args.cluster, step_id, state, f"s3://{bucket}/logs/")
    from .monitoring import write_report

    write_report(aws, args.cluster, step_id, args.report_dir)
    return code
