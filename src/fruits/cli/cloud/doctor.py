"""`fruits cloud doctor`: the read-only pre-flight, one line per check, exit 0 only when nothing fails."""

from __future__ import annotations

import argparse

from ...cloud.errors import CloudError
from .clients import Aws


def doctor(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud.bucket import validate_bucket_name
    from ...cloud.cluster import ClusterSpec
    from ...cloud.doctor import DoctorClients, failed, run_checks

    if args.bucket:
        validate_bucket_name(args.bucket)
    # The same checks of --subnet, --instance-type and --core-nodes as `up` (values only, nothing sent).
    ClusterSpec(bucket=args.bucket or "b-1", region=aws.region, service_role="-", instance_profile="-",
                bootstrap_uri="-", wheel_uri="-", instance_type=args.instance_type, core_nodes=args.core_nodes,
                subnet_id=args.subnet).validated()
    clients = DoctorClients(sts=aws.sts, iam=aws.iam, ec2=aws.ec2, emr=aws.emr, kms=aws.kms, s3=aws.s3,
                            quotas=aws.client("service-quotas"))
    checks = run_checks(clients, aws.region, args.bucket, args.subnet, args.instance_type, args.core_nodes,
                        on_check=lambda check: aws.say(check.line()))
    bad = failed(checks)
    unknown = sum(c.status == "unknown" for c in checks)
    if bad:
        raise CloudError(f"{len(bad)} check(s) failed ({', '.join(c.name for c in bad)}): fix them and run "
                         "`fruits cloud doctor` again")
    aws.say(f"no check failed ({len(checks) - unknown} passed, {unknown} unknown): `fruits cloud run` should work")
    return 0
