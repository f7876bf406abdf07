"""The AWS clients of one `fruits cloud` command, built here at the edge, and the wrapper that hands them over.

Clients come from the standard credential chain (environment, ~/.aws profile, SSO, instance role) and
AWS_ENDPOINT_URL when set; the library functions in `fruits.cloud` receive them. `--dry-run` attaches a recorder
to the clients: the requests are printed as JSON on stdout and never sent.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ...cloud.errors import CloudUsageError, CredentialsError, aws_errors
from ...cloud.regions import resolve_region
from ...cloud.waiting import Waits

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
        # Imported here, not at the top: dryrun needs botocore, and the CLI's parser must build without the AWS
        # SDK (the EMR node's venv runs `fruits run` and has no boto3).
        from ...cloud.dryrun import RequestRecorder

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

    @property
    def ec2(self):
        return self.client("ec2")

    @property
    def kms(self):
        return self.client("kms")

    @property
    def sts(self):
        return self.client("sts")

    def deploy_clients(self):
        from ...cloud.deploy import Clients

        return Clients(emr=self.emr, s3=self.s3, iam=self.iam, ec2=self.ec2, kms=self.kms)

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


def waits_for(args: argparse.Namespace, dry_run: bool) -> Waits:
    """No waiting in a dry run; --poll, when given, is the delay between status checks."""
    poll = getattr(args, "poll", None)
    if poll is not None and poll < 0:
        raise CloudUsageError(f"bad --poll {poll}: give 0 or more seconds")
    return Waits(enabled=not dry_run, delay=poll)


def handler_for(body: Callable[[argparse.Namespace, Aws], int], bucket_exists: bool = True):
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
