"""The argparse definitions of `fruits cloud` and its sub-commands, each wired to its handler."""

from __future__ import annotations

import argparse
import sys

from ...cloud.cluster import (
    DEFAULT_CORE_NODES,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_RELEASE,
    DEFAULT_ROOT_VOLUME_GIB,
)
from ...cloud.regions import DEFAULT_REGION, EU_REGIONS
from ..run import add_run_options
from . import cluster, doctor, monitoring, storage, teardown
from .clients import handler_for

_DRY_RUN_HELP = (
    "print the exact AWS requests (service, operation, params) as JSON on stdout and send nothing; reads are "
    "answered as if the bucket existed (for init: nothing exists yet) and the roles did not"
)


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
    parser.add_argument("--subnet", metavar="SUBNET",
                        help="subnet id for the nodes, with a route to an internet gateway (default: the first such "
                             "subnet of the default VPC, printed); it and its VPC get the tag "
                             "for-use-with-amazon-emr-managed-policies=true, removed by `destroy` if fruits added it")
    parser.add_argument("--kms-key", metavar="ARN",
                        help="KMS key that encrypts the nodes' disks (default: the key `init` made for the bucket, "
                             "else the bucket's SSE-KMS key)")
    parser.add_argument("--spot", action="store_true",
                        help="core nodes on Spot (the primary node stays On-Demand); cheaper, but AWS may take them "
                             "back at two minutes' notice and the step then fails (docs/cloud.md)")
    parser.add_argument("--root-volume", type=int, default=DEFAULT_ROOT_VOLUME_GIB, metavar="GIB",
                        help=f"root EBS volume of each node, 15-1000 GiB (default: {DEFAULT_ROOT_VOLUME_GIB})")
    parser.add_argument("--wheel", metavar="FILE", help="the fruits wheel to install on the cluster (default: built "
                                                        "from this checkout with pip wheel)")


def _step_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="s3://BUCKET/... folder of photos")
    parser.add_argument("--output", required=True, help="s3://BUCKET/... folder for the results")
    parser.add_argument("--overwrite", action="store_true", help="as `fruits run --overwrite`")
    if "--incremental" not in parser._option_string_actions:  # `fruits run`'s own options may come to have it
        parser.add_argument("--incremental", action="store_true",
                            help="as `fruits run --incremental` (passed through to the step)")
    add_run_options(parser)
    parser.add_argument("--wait", action="store_true",
                        help="follow the step with a progress line; end with its state, where its logs are, why it "
                             "failed, and the run report (exit 1 if the step failed)")
    _report_dir(parser)


def _report_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-dir", default="fruits-reports", metavar="DIR",
                        help="local folder for the run report (default: fruits-reports); a copy goes next to the "
                             "output in S3 (OUTPUT.run-report.json/.txt)")


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
    p.set_defaults(handler=handler_for(storage.init, bucket_exists=False))

    p = commands.add_parser("doctor", parents=[_common()], help="read-only pre-flight: would `run` work here?",
                            description="Checks, reading only, what `fruits cloud run` needs in this account and "
                                        "region: credentials, permissions (iam:SimulatePrincipalPolicy), subnet and "
                                        "internet route, network tags, the EMR service-linked role, the On-Demand "
                                        "vCPU quota, EMR block public access, the bucket and its disk key. One line "
                                        "per check (pass, fail, unknown) with the fix; exit 0 only when none fails.")
    p.add_argument("--bucket", help="the bucket to check (made by `fruits cloud init`)")
    p.add_argument("--subnet", metavar="SUBNET", help="the subnet `run` will get (default: its own choice)")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help=f"default: {DEFAULT_INSTANCE_TYPE}")
    p.add_argument("--core-nodes", type=int, default=DEFAULT_CORE_NODES, help=f"default: {DEFAULT_CORE_NODES}")
    p.set_defaults(handler=handler_for(doctor.doctor))

    p = commands.add_parser("upload", parents=[_common()], help="upload a folder, skipping files already there",
                            description="Parallel upload of LOCAL_DIR to s3://BUCKET/PREFIX with a progress line; "
                                        "files already there with the same size and checksum are skipped and "
                                        "listed.")
    p.add_argument("local_dir", metavar="LOCAL_DIR")
    p.add_argument("destination", metavar="s3://BUCKET/PREFIX")
    p.add_argument("--workers", type=int, default=8, help="parallel uploads, 1-64 (default: 8)")
    p.set_defaults(handler=handler_for(storage.upload))

    p = commands.add_parser("up", parents=[_common(poll=True)], help="start a cluster that waits for steps",
                            description="Create the EMR roles when missing (instance role scoped to the bucket), "
                                        "upload the code and bootstrap script, start a Spark cluster with logs in "
                                        "s3://BUCKET/logs/, tags and an idle auto-termination policy; print its id "
                                        "and an estimated cost per hour.")
    _cluster_options(p)
    p.add_argument("--wait", action="store_true", help="wait until the cluster is ready for steps")
    p.add_argument("--notebook", action="store_true",
                   help="also JupyterHub + Livy on the primary node: a PySpark kernel whose Spark runs in the fruits "
                        "venv, reached only through an SSM port forward (the instance role gets "
                        "AmazonSSMManagedInstanceCore); no port is opened")
    p.set_defaults(handler=handler_for(cluster.up))

    p = commands.add_parser("submit", parents=[_common(poll=True)], help="run `fruits run` as a step on a cluster",
                            description="Add a spark-submit step (command-runner.jar, cluster deploy mode) that runs "
                                        "`fruits run INPUT OUTPUT` on the cluster. The driver reads the weights once "
                                        "and broadcasts them; executors never download weights.")
    p.add_argument("cluster", metavar="CLUSTER", help="cluster id (j-...)")
    _step_options(p)
    p.set_defaults(handler=handler_for(cluster.submit))

    p = commands.add_parser("run", parents=[_common(poll=True)],
                            help="one transient cluster: run the step, then terminate",
                            description="Like up + submit, but the cluster ends with its step: no idle cost.")
    _cluster_options(p)
    _step_options(p)
    p.set_defaults(handler=handler_for(cluster.run))

    p = commands.add_parser("status", parents=[_common()], help="active clusters and their cost so far")
    p.set_defaults(handler=handler_for(monitoring.status))

    p = commands.add_parser("logs", parents=[_common()], help="stderr and stdout of a step, from S3")
    p.add_argument("cluster", metavar="CLUSTER")
    p.add_argument("--step", help="step id (default: the newest step)")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines of each log")
    p.set_defaults(handler=handler_for(monitoring.logs))

    p = commands.add_parser("report", parents=[_common()], help="rebuild the run report of a cluster's step",
                            description="The evidence of a run, from EMR's and S3's records: cluster, release, "
                                        "nodes, phase times, step state and logs, the output's manifest and the "
                                        "estimated cost; written to --report-dir and next to the output in S3.")
    p.add_argument("cluster", metavar="CLUSTER")
    p.add_argument("--step", help="step id (default: the newest `fruits run` step)")
    _report_dir(p)
    p.set_defaults(handler=handler_for(monitoring.report))

    p = commands.add_parser("down", parents=[_common(poll=True)], help="terminate a cluster and wait until it is gone")
    p.add_argument("cluster", metavar="CLUSTER")
    p.add_argument("--no-wait", action="store_true", help="ask for termination and return at once")
    p.set_defaults(handler=handler_for(monitoring.down))

    p = commands.add_parser("destroy", parents=[_common()], help="delete the IAM roles (and, if asked, the bucket)",
                            description="Delete the instance role/profile of the bucket and the service role when "
                                        "no other bucket uses it; with --delete-bucket --yes also every object "
                                        "version and the bucket itself.")
    p.add_argument("--bucket", required=True)
    p.add_argument("--delete-bucket", action="store_true", help="also empty (all versions) and delete the bucket")
    p.add_argument("--yes", action="store_true", help="confirm --delete-bucket")
    p.set_defaults(handler=handler_for(teardown.destroy))
