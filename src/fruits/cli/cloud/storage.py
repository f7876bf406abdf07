"""`fruits cloud init` and `fruits cloud upload`: the bucket, hardened, and the photos sent to it."""

from __future__ import annotations

import argparse

from ...cloud.errors import CloudUsageError
from .clients import Aws, waits_for


def init(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud.bucket import BucketPlan, ensure_bucket

    for flag in ("log_days", "tmp_days", "noncurrent_days"):
        if getattr(args, flag) < 1:
            raise CloudUsageError(f"bad --{flag.replace('_', '-')} {getattr(args, flag)}: give 1 or more days")
    plan = BucketPlan(args.bucket, aws.region, args.kms_key, args.log_days, args.tmp_days, args.noncurrent_days)
    changes = ensure_bucket(aws.s3, plan, waits_for(args, aws.dry_run))
    if not args.kms_key:  # the clusters' disks need a KMS key: with --kms-key they use that one
        from ...cloud.security import ensure_disk_key

        changes.append(ensure_disk_key(aws.kms, args.bucket)[0])
    for change in changes:
        aws.say(change.line())
    changed = sum(c.action != "unchanged" for c in changes)
    aws.say(f"s3://{args.bucket} ready in {aws.region}: "
            + (f"{changed} setting(s) changed" if changed else "everything unchanged"))
    return 0


def upload(args: argparse.Namespace, aws: Aws) -> int:
    from ...cloud.bucket import require_bucket, validate_bucket_name
    from ...cloud.progress import ProgressLine, human_bytes
    from ...cloud.upload import scan, split_destination, upload_files

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
