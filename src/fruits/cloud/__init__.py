"""`fruits cloud`: the pipeline on AWS in an EU region (hardened S3 bucket, EMR cluster lifecycle, cost control).

Layout, one concern per module:

- `regions`: the EU-only region guard.
- `errors`: typed errors, and the translation of botocore's exceptions into one-line messages.
- `dryrun`: a request recorder that answers instead of AWS, for `--dry-run`.
- `s3`, `iam`, `emr`, `ec2`, `kms`: one function per AWS call (plus waiters), clients always passed in.
- `bucket`: the bucket settings `init` wants, compared with what is there and written only when they differ.
- `upload`, `progress`: parallel upload that skips files already there, with a text progress line.
- `roles`: the EMR service role (with PassRole on our instance role) and the instance role/profile scoped to one
  bucket.
- `network`: the subnet (given, or one of the default VPC with an internet route) and its EMR tags.
- `security`: the KMS disk key and the EMR security configuration that encrypts the nodes' disks.
- `package`: the wheel, the step entry script and the bootstrap script shipped to `s3://BUCKET/code/`.
- `cluster`: the exact `RunJobFlow` / `AddJobFlowSteps` requests (pure).
- `deploy`, `monitor`, `teardown`: what `up`/`run`/`submit`, `status`/`logs`/`down` and `destroy` do.
- `doctor`: the read-only pre-flight; `report`: the run report (evidence of a run, rebuilt from EMR and S3).
- `pricing`: a small dated, approximate price table and cost estimates.
- `s3a`: Spark/Hadoop S3A settings for running `fruits run` on a laptop against S3.

AWS clients are built at the edge (`fruits.cli.cloud`) from the standard credential chain and passed in.
"""
