"""`fruits cloud destroy`: the IAM roles deleted, and the bucket with all its data when confirmed."""

from __future__ import annotations

import argparse

from ...cloud.errors import CloudUsageError
from .clients import Aws


def destroy(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud import teardown
    from ...cloud.bucket import validate_bucket_name
    from ...cloud.roles import instance_role_name

    validate_bucket_name(args.bucket)
    if args.delete_bucket and not args.yes and not aws.dry_run:
        raise CloudUsageError(f"--delete-bucket removes every object (and every old version) of {args.bucket} for "
                              "good: add --yes to confirm")
    if aws.recorder is not None:  # show the deletes: assume what `init` and `up` created is there
        aws.recorder.assume_fruits_roles(instance_role_name(args.bucket))
        aws.recorder.assume_fruits_network_and_keys(args.bucket)
    result = teardown.destroy(aws.s3, aws.iam, aws.emr, args.bucket, aws.region, delete_bucket=args.delete_bucket,
                              ec2=aws.ec2, kms=aws.kms)
    for change in result.changes:
        aws.say(change.line())
    if not args.delete_bucket:
        aws.say(f"bucket s3://{args.bucket} kept (add --delete-bucket --yes to delete it and all its data)")
    return 0
