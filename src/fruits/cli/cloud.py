"""`fruits cloud ...`: the pipeline on AWS EMR in an EU region (bucket, upload, cluster, steps, logs, cost).

AWS clients are built here, at the edge, from the standard credential chain (environment, ~/.aws profile, SSO,
instance role) and AWS_ENDPOINT_URL when set; the library functions in `fruits.cloud` receive them.
`--dry-run` attaches a recorder to the clients: the requests are printed as JSON on stdout and never sent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..cloud.cluster import (
    DEFAULT_CORE_NODES,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_RELEASE,
)
from ..cloud.dryrun import RequestRecorder
from ..cloud.errors import CloudUsageError, CredentialsError, aws_errors
from ..cloud.regions import DEFAULT_REGION, EU_REGIONS, resolve_region
from ..cloud.waiting import Waits
from .run import add_run_options

log = logging.getLogger("fruits")

_DRY_RUN_HELP = (
    "print the exact AWS requests (service, operation, params) as JSON on stdout and send nothing; reads are "
    "answered as if the bucket existed (for init: nothing exists yet) and the roles did not"
)


# --- clients at the edge ------------------------------------------------------------------------------------------


_LOADER = None


def _session():
    """A fresh boto3 session (credentials are resolved anew each command) sharing one loader of the service
    models: parsing them is most of the cost of making clients, and they never change within a process."""
    global _LOADER
    import boto3
    import botocore.loaders
    import botocore.session

    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    session = boto3.session.Session(botocore_session=core)
    paths = _LOADER.search_paths  # boto3 appends its own data folder on every session
    paths[:] = list(dict.fromkeys(paths))
    return session


class Aws:
    """The AWS clients of one command, in one region, optionally recorded instead of sent."""

    def __init__(self, region: str, dry_run: bool, bucket_exists: bool = True):
        self.region = region
        self.recorder = RequestRecorder(region, bucket_exists=bucket_exists) if dry_run else None
        self._session = _session()
        self._clients: dict[str, object] = {}

    @property
    def dry_run(self) -> bool:
        return self.recorder is not None

    def client(self, service: str):
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                region_name=self.region,
                retries={"mode": "standard", "max_attempts": 5},
                user_agent_extra="fruits-cloud",
            )
            client = self._session.client(service, region_name=self.region, config=config)
            if self.recorder:
                self.recorder.attach(client)
            self._clients[service] = client
        return self._clients[service]

    @property
    def s3(self):
        return self.client("s3")

    @property
    def iam(self):
        return self.client("iam")

    @property
    def emr(self):
        return self.client("emr")

    def say(self, text: str = "") -> None:
        """Results on stdout; in a dry run they go to stderr, stdout being the JSON of the requests."""
        if self.dry_run:
            print(f"(dry run) {text}" if text else "", file=sys.stderr)
        else:
            print(text)


def configured_region() -> str | None:
    """The region of the standard AWS configuration (AWS_REGION, AWS_DEFAULT_REGION, the profile), if any.

    boto3 itself ignores AWS_REGION, which the AWS CLI v2 and the other SDKs read first: read it here too, so
    fruits goes where the user's other AWS tools go (or refuses, outside the EU).
    """
    from botocore.exceptions import ProfileNotFound

    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    try:
        return _session().region_name
    except ProfileNotFound as exc:
        raise CredentialsError(f"{exc}: check AWS_PROFILE or run `aws configure --profile NAME`") from None


def _waits(args: argparse.Namespace, dry_run: bool) -> Waits:
    poll = getattr(args, "poll", None)
    if poll is not None and poll < 0:
        raise CloudUsageError(f"bad --poll {poll}: give 0 or more seconds")
    return Waits(enabled=not dry_run, delay=poll)


def _command(body: Callable[[argparse.Namespace, Aws], int], bucket_exists: bool = True):
    """A handler: region guard, clients, AWS errors in one line, the dry-run JSON at the end."""

    def handler(args: argparse.Namespace) -> int:
        region = resolve_region(args.region, None if args.region else configured_region())
        aws = Aws(region, args.dry_run, bucket_exists=bucket_exists)
        with aws_errors():
            code = body(args, aws)
        if aws.recorder is not None:
            print(aws.recorder.to_json())
            print(f"fruits: dry run in {region}: {len(aws.recorder.requests)} request(s) printed, none sent",
                  file=sys.stderr)
        return code

    return handler


# --- init, upload ---------------------------------------------------------------------------------------------------


def _init(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud.bucket import BucketPlan, ensure_bucket

    for flag in ("log_days", "tmp_days", "noncurrent_days"):
        if getattr(args, flag) < 1:
            raise CloudUsageError(f"bad --{flag.replace('_', '-')} {getattr(args, flag)}: give 1 or more days")
    plan = BucketPlan(args.bucket, aws.region, args.kms_key, args.log_days, args.tmp_days, args.noncurrent_days)
    changes = ensure_bucket(aws.s3, plan, _waits(args, aws.dry_run))
    for change in changes:
        aws.say(change.line())
    changed = sum(c.action != "unchanged" for c in changes)
    aws.say(f"s3://{args.bucket} ready in {aws.region}: "
            + (f"{changed} setting(s) changed" if changed else "everything unchanged"))
    return 0


def _upload(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud.bucket import require_bucket, validate_bucket_name
    from ..cloud.progress import ProgressLine, human_bytes
    from ..cloud.upload import scan, split_destination, upload_files

    if not 1 <= args.workers <= 64:
        raise CloudUsageError(f"bad --workers {args.workers}: give 1 to 64")
    bucket, prefix = split_destination(args.destination)
    validate_bucket_name(bucket)
    files = scan(args.local_dir, prefix)
    require_bucket(aws.s3, bucket, aws.region)  # photos go to an EU bucket only
    progress = None if aws.dry_run else ProgressLine("upload", len(files), sum(f.size for f in files))
    report = upload_files(aws.s3, bucket, files, workers=args.workers, progress=progress, listing_prefix=prefix)
    aws.say(f"uploaded {len(report.uploaded)} file(s) ({human_bytes(report.bytes_uploaded)}) to s3://{bucket}/{prefix}")
    aws.say(f"skipped {len(report.skipped)} file(s) ({human_bytes(report.bytes_skipped)}) already there with the "
            "same size and checksum" + (":" if report.skipped else ""))
    shown = 20
    for key in report.skipped[:shown]:
        aws.say(f"  {key}")
    if len(report.skipped) > shown:
        aws.say(f"  ... and {len(report.skipped) - shown} more")
    return 0


# --- up, run, submit -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _wheel(args: argparse.Namespace) -> Iterator[Path]:
    from ..cloud.package import build_wheel, check_wheel

    if args.wheel:
        yield check_wheel(args.wheel)
        return
    with tempfile.TemporaryDirectory(prefix="fruits-wheel-") as scratch:
        log.info("building the fruits wheel from this checkout")
        yield build_wheel(Path(scratch))


def _cluster_settings(args: argparse.Namespace) -> dict:
    return {"release": args.release, "instance_type": args.instance_type, "core_nodes": args.core_nodes,
            "idle_timeout": args.idle_timeout, "name": args.name}


def _run_flags(args: argparse.Namespace) -> dict:
    from ..cloud.deploy import RUN_FLAGS

    flags = {name: getattr(args, name, None) for name in RUN_FLAGS}
    flags["overwrite"] = bool(getattr(args, "overwrite", False))
    return flags


def _warn_emr_public_access(aws: Aws) -> None:
    from ..cloud import emr as emr_api

    config = emr_api.get_block_public_access(aws.emr)
    if not config.get("BlockPublicSecurityGroupRules", False):
        print(f"WARNING: EMR block public access is OFF in {aws.region}: turn it on (EMR console > Block public "
              "access) so no cluster port can be opened to the internet", file=sys.stderr)


def _report_start(aws: Aws, started, what: str) -> None:
    from ..cloud.pricing import describe_estimate

    for change in started.prepared.changes:
        aws.say(change.line())
    upload = started.prepared.upload
    aws.say(f"code in s3://{started.spec.bucket}/code/: {len(upload.uploaded)} uploaded, {len(upload.skipped)} "
            "unchanged")
    spec = started.spec
    aws.say(f"{what} {started.cluster_id} starting in {spec.region}: {spec.release}, 1 primary + {spec.core_nodes} "
            f"core x {spec.instance_type}")
    aws.say(f"estimated cost: {describe_estimate(started.per_hour)}")
    aws.say(f"logs: {spec.log_uri}{started.cluster_id}/")


def _up(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud import deploy
    from ..cloud import emr as emr_api

    waits = _waits(args, aws.dry_run)
    deploy.check_settings(args.bucket, aws.region, **_cluster_settings(args))
    with _wheel(args) as wheel:
        started = deploy.up(aws.emr, aws.s3, aws.iam, args.bucket, aws.region, wheel, waits, **_cluster_settings(args))
    _warn_emr_public_access(aws)
    _report_start(aws, started, "cluster")
    aws.say(f"auto-terminates after {started.spec.idle_timeout} s idle; stop it now with "
            f"`fruits cloud down {started.cluster_id} --region {aws.region}`")
    if args.wait and waits.enabled:
        emr_api.wait_cluster_running(aws.emr, started.cluster_id, waits.config(default_delay=30, max_wait_s=3600))
        aws.say(f"cluster {started.cluster_id} is ready for `fruits cloud submit`")
    return 0


def _follow_step(aws: Aws, cluster_id: str, step_id: str, waits: Waits) -> str:
    from ..cloud.monitor import follow

    def on_poll(step: dict) -> None:
        timeline = step.get("Status", {}).get("Timeline", {})
        since = timeline.get("StartDateTime") or timeline.get("CreationDateTime")
        print(f"step {step_id}: {step.get('Status', {}).get('State')}" + (f" since {since:%H:%M:%S}" if since else ""),
              file=sys.stderr)

    return follow(aws.emr, cluster_id, step_id, waits, on_poll)


def _end_of_step(aws: Aws, cluster_id: str, step_id: str, state: str, log_uri: str) -> int:
    aws.say(f"step {step_id}: {state}")
    aws.say(f"step logs: {log_uri}{cluster_id}/steps/{step_id}/ (`fruits cloud logs {cluster_id} --step {step_id} "
            f"--region {aws.region}`; EMR copies them to S3 every few minutes)")
    return 0 if state == "COMPLETED" else 1


def _run(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud import deploy
    from ..cloud import emr as emr_api

    waits = _waits(args, aws.dry_run)
    deploy.check_settings(args.bucket, aws.region, **_cluster_settings(args))
    deploy.run_arguments(args.bucket, args.input, args.output, _run_flags(args))
    with _wheel(args) as wheel:
        started = deploy.run(aws.emr, aws.s3, aws.iam, args.bucket, aws.region, wheel, args.input, args.output,
                             _run_flags(args), waits, **_cluster_settings(args))
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
    return code


def _submit(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud import deploy
    from ..cloud import emr as emr_api
    from ..storage import is_s3, split_s3

    emr_api.validate_cluster_id(args.cluster)
    if aws.recorder is not None and is_s3(args.input):
        # A dry run cannot ask which bucket the cluster was started for: assume the one of INPUT.
        aws.recorder.assume_cluster(args.cluster, bucket=split_s3(args.input)[0])
    waits = _waits(args, aws.dry_run)
    step_id, bucket = deploy.submit(aws.emr, args.cluster, args.input, args.output, _run_flags(args))
    aws.say(f"step {step_id} added to cluster {args.cluster}: fruits run {args.input} {args.output}")
    if not (args.wait and waits.enabled):
        return 0
    state = _follow_step(aws, args.cluster, step_id, waits)
    return _end_of_step(aws, args.cluster, step_id, state, f"s3://{bucket}/logs/")


# --- status, logs, down, destroy --------------------------------------------------------------------------------------


def _status(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud.monitor import cluster_costs
    from ..cloud.pricing import PRICES_AS_OF

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


def _logs(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud import emr as emr_api
    from ..cloud.monitor import step_logs

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


def _down(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud import emr as emr_api
    from ..cloud.monitor import down

    emr_api.validate_cluster_id(args.cluster)
    if aws.recorder is not None:
        aws.recorder.assume_cluster(args.cluster)
    waits = _waits(args, aws.dry_run)
    if args.no_wait:
        waits = Waits(enabled=False)
    result = down(aws.emr, args.cluster, waits)
    if result.before == result.after:
        aws.say(f"cluster {args.cluster} was already {result.after}")
    else:
        aws.say(f"cluster {args.cluster}: {result.before} -> {result.after}")
    return 0


def _destroy(args: argparse.Namespace, aws: Aws) -> int:
    from ..cloud.bucket import validate_bucket_name
    from ..cloud.roles import instance_role_name
    from ..cloud.teardown import destroy

    validate_bucket_name(args.bucket)
    if args.delete_bucket and not args.yes and not aws.dry_run:
        raise CloudUsageError(f"--delete-bucket removes every object (and every old version) of {args.bucket} for "
                              "good: add --yes to confirm")
    if aws.recorder is not None:  # show the deletes: assume what `init` and `up` created is there
        aws.recorder.assume_fruits_roles(instance_role_name(args.bucket))
    result = destroy(aws.s3, aws.iam, aws.emr, args.bucket, aws.region, delete_bucket=args.delete_bucket)
    for change in result.changes:
        aws.say(change.line())
    if not args.delete_bucket:
        aws.say(f"bucket s3://{args.bucket} kept (add --delete-bucket --yes to delete it and all its data)")
    return 0


# --- the parser ------------------------------------------------------------------------------------------------------


def _common(poll: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--region", help=f"an EU region: {', '.join(EU_REGIONS)} (default: the AWS configuration's "
                                         f"region if in the EU, else {DEFAULT_REGION})")
    parent.add_argument("--dry-run", action="store_true", help=_DRY_RUN_HELP)
    if poll:
        parent.add_argument("--poll", type=int, metavar="SECONDS",
                            help="seconds between status checks while waiting (default: 30 for EMR, 2-5 for IAM/S3)")
    return parent


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="the bucket made by `fruits cloud init` (code, logs, data)")
    parser.add_argument("--release", default=DEFAULT_RELEASE, help=f"EMR release, 7.x or later (default: "
                                                                   f"{DEFAULT_RELEASE}, Spark 3.5)")
    parser.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE,
                        help=f"EC2 type of every node (default: {DEFAULT_INSTANCE_TYPE})")
    parser.add_argument("--core-nodes", type=int, default=DEFAULT_CORE_NODES,
                        help=f"core nodes besides the primary one (default: {DEFAULT_CORE_NODES})")
    parser.add_argument("--idle-timeout", type=int, default=DEFAULT_IDLE_TIMEOUT, metavar="SECONDS",
                        help=f"EMR auto-termination after this many idle seconds, 60-604800 (default: "
                             f"{DEFAULT_IDLE_TIMEOUT})")
    parser.add_argument("--name", help="cluster name (default: fruits-BUCKET)")
    parser.add_argument("--wheel", metavar="FILE", help="the fruits wheel to install on the cluster (default: built "
                                                        "from this checkout with pip wheel)")


def _step_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="s3://BUCKET/... folder of photos")
    parser.add_argument("--output", required=True, help="s3://BUCKET/... folder for the results")
    parser.add_argument("--overwrite", action="store_true", help="as `fruits run --overwrite`")
    add_run_options(parser)
    parser.add_argument("--wait", action="store_true",
                        help="follow the step with a progress line; end with its state and where its logs are "
                             "(exit 1 if the step failed)")


def add_parser(subparsers) -> None:
    cloud = subparsers.add_parser(
        "cloud",
        help="run the pipeline on AWS EMR in an EU region (bucket, upload, cluster, steps, logs, cost)",
        description="AWS deployment in the EU. Credentials come from the standard AWS chain only (aws configure, "
                    "AWS_PROFILE, environment, SSO, instance role). Every command refuses a region outside the "
                    "EU and has --dry-run. See docs/cloud.md.",
    )
    cloud.set_defaults(handler=lambda args: (cloud.print_help(sys.stderr), 2)[1])
    commands = cloud.add_subparsers(dest="cloud_command", metavar="COMMAND")

    p = commands.add_parser("init", parents=[_common(poll=True)], help="create or harden the bucket (idempotent)",
                            description="Create the bucket in an EU region with Block Public Access, default "
                                        "encryption, a TLS-only policy, versioning and lifecycle rules; re-running "
                                        "changes only what differs and says 'unchanged'.")
    p.add_argument("--bucket", required=True)
    p.add_argument("--kms-key", metavar="ARN", help="SSE-KMS with this KMS key ARN (default: SSE-S3)")
    p.add_argument("--log-days", type=int, default=30, help="expire logs/ after this many days (default: 30)")
    p.add_argument("--tmp-days", type=int, default=7, help="expire tmp/ after this many days (default: 7)")
    p.add_argument("--noncurrent-days", type=int, default=30,
                   help="delete overwritten/deleted versions after this many days (default: 30)")
    p.set_defaults(handler=_command(_init, bucket_exists=False))

    p = commands.add_parser("upload", parents=[_common()], help="upload a folder, skipping files already there",
                            description="Parallel upload of LOCAL_DIR to s3://BUCKET/PREFIX with a progress line; "
                                        "files already there with the same size and checksum are skipped and "
                                        "listed.")
    p.add_argument("local_dir", metavar="LOCAL_DIR")
    p.add_argument("destination", metavar="s3://BUCKET/PREFIX")
    p.add_argument("--workers", type=int, default=8, help="parallel uploads, 1-64 (default: 8)")
    p.set_defaults(handler=_command(_upload))

    p = commands.add_parser("up", parents=[_common(poll=True)], help="start a cluster that waits for steps",
                            description="Create the EMR roles when missing (instance role scoped to the bucket), "
                                        "upload the code and bootstrap script, start a Spark cluster with logs in "
                                        "s3://BUCKET/logs/, tags and an idle auto-termination policy; print its id "
                                        "and an estimated cost per hour.")
    _cluster_options(p)
    p.add_argument("--wait", action="store_true", help="wait until the cluster is ready for steps")
    p.set_defaults(handler=_command(_up))

    p = commands.add_parser("submit", parents=[_common(poll=True)], help="run `fruits run` as a step on a cluster",
                            description="Add a spark-submit step (command-runner.jar, cluster deploy mode) that runs "
                                        "`fruits run INPUT OUTPUT` on the cluster. The driver reads the weights once "
                                        "and broadcasts them; executors never download weights.")
    p.add_argument("cluster", metavar="CLUSTER", help="cluster id (j-...)")
    _step_options(p)
    p.set_defaults(handler=_command(_submit))

    p = commands.add_parser("run", parents=[_common(poll=True)],
                            help="one transient cluster: run the step, then terminate",
                            description="Like up + submit, but the cluster ends with its step: no idle cost.")
    _cluster_options(p)
    _step_options(p)
    p.set_defaults(handler=_command(_run))

    p = commands.add_parser("status", parents=[_common()], help="active clusters and their cost so far")
    p.set_defaults(handler=_command(_status))

    p = commands.add_parser("logs", parents=[_common()], help="stderr and stdout of a step, from S3")
    p.add_argument("cluster", metavar="CLUSTER")
    p.add_argument("--step", help="step id (default: the newest step)")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines of each log")
    p.set_defaults(handler=_command(_logs))

    p = commands.add_parser("down", parents=[_common(poll=True)], help="terminate a cluster and wait until it is gone")
    p.add_argument("cluster", metavar="CLUSTER")
    p.add_argument("--no-wait", action="store_true", help="ask for termination and return at once")
    p.set_defaults(handler=_command(_down))

    p = commands.add_parser("destroy", parents=[_common()], help="delete the IAM roles (and, if asked, the bucket)",
                            description="Delete the instance role/profile of the bucket and the service role when "
                                        "no other bucket uses it; with --delete-bucket --yes also every object "
                                        "version and the bucket itself.")
    p.add_argument("--bucket", required=True)
    p.add_argument("--delete-bucket", action="store_true", help="also empty (all versions) and delete the bucket")
    p.add_argument("--yes", action="store_true", help="confirm --delete-bucket")
    p.set_defaults(handler=_command(_destroy))
