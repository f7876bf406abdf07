"""Fixtures of the `fruits cloud` tests: a moto server on 127.0.0.1 (one per module, reset before each test),
an AWS environment that can only ever reach it, and a helper that runs the CLI in-process.

Nothing here reaches AWS: credentials are fake, the instance metadata service is disabled (botocore would
otherwise try 169.254.169.254 when no credentials are found), and AWS_ENDPOINT_URL points at the local server.
"""

from __future__ import annotations

import functools
import json
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REGION = "eu-west-3"
BUCKET = "fruits-test-bucket"

_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


@pytest.fixture(autouse=True)
def isolated_aws_env(monkeypatch, tmp_path):
    """No real credentials, no config files, no metadata service: whatever a test forgets cannot reach AWS."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # A closed local port: a request that should not be sent fails fast instead of going anywhere.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.fixture(scope="module")
def moto_server():
    import logging

    from moto.server import ThreadedMotoServer

    # One INFO line per request from werkzeug is noise; without a handler of pytest's it would even go to the
    # stderr that the tests read.
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug.setLevel(level)


def _is_tls_only_deny(statement: dict) -> bool:
    return statement.get("Effect") == "Deny" and statement.get("Condition") == {
        "Bool": {"aws:SecureTransport": "false"}}


@pytest.fixture
def moto_sees_tls(monkeypatch):
    """Evaluate bucket policies as AWS would for a TLS request (every boto3 request to AWS is https).

    moto applies bucket policies to object requests but ignores their conditions (it only knows StringEquals),
    so the TLS-only Deny that `init` writes would deny every upload. Here statements conditioned on
    aws:SecureTransport=false are left out of moto's evaluation; the rest of the policy still applies.
    """
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.get_permission

    def get_permission(self, action, resource):
        if self.policy is None:
            return original(self, action, resource)
        policy = json.loads(self.policy.decode())
        statements = policy.get("Statement", [])
        statements = [s for s in (statements if isinstance(statements, list) else [statements])
                      if not _is_tls_only_deny(s)]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": statements})).is_action_permitted(action, resource)

    monkeypatch.setattr(FakeBucket, "get_permission", get_permission)


def reset_moto(endpoint: str) -> None:
    """Empty the moto server (every service, every region)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:  # a reset can take long on a busy machine
        assert answer.status == 200


@pytest.fixture
def aws(moto_server, moto_sees_tls, monkeypatch):
    """The moto server, emptied, with fake credentials in the environment; returns its endpoint URL."""
    reset_moto(moto_server)
    _seed_aws_managed_policy("AmazonEMRServicePolicy_v2")
    _seed_aws_managed_policy("AmazonSSMManagedInstanceCore")  # `up --notebook`
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _default_vpc_reaches_the_internet(moto_server)
    return moto_server


def _default_vpc_reaches_the_internet(endpoint: str) -> None:
    """moto's default VPC has no internet gateway; a real account's has one, with a 0.0.0.0/0 route in the VPC's
    main route table. Make moto's look like AWS's (tests of the missing route delete it)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc["VpcId"])
    [main] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)


@functools.lru_cache(maxsize=None)
def _aws_managed_policy_data(name: str) -> dict:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)[name]


def _seed_aws_managed_policy(name: str) -> None:
    """Give moto's IAM an AWS managed policy `up` attaches.

    moto can load all ~1,300 AWS managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES), but that costs seconds per
    reset; the server runs in this process, so the one policy needed is added to its backend directly.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import AWSManagedPolicy, iam_backends

    data = _aws_managed_policy_data(name)
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    policy = AWSManagedPolicy.from_data(name, DEFAULT_ACCOUNT_ID, "global", data)
    backend.managed_policies[policy.arn] = policy


@pytest.fixture
def boto(aws):
    """Plain boto3 clients on the moto server, to set things up and read them back."""
    from fruits.cli.cloud.clients import _session

    session = _session()  # shares the service models already loaded by the CLI
    made: dict = {}

    def client(service: str, region: str = REGION):
        if (service, region) not in made:
            made[service, region] = session.client(service, region_name=region)
        return made[service, region]

    return client


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run `fruits ...` in-process; returns exit code, stdout and stderr."""
    from fruits.cli.main import main

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def wheel(tmp_path) -> Path:
    """A small stand-in for the fruits wheel (building the real one is tested once, in test_package.py)."""
    path = tmp_path / "fruits-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fruits/__init__.py", '__version__ = "0.1.0"\n')
    return path


@pytest.fixture
def ready_bucket(cli, aws) -> str:
    result = cli("cloud", "init", "--bucket", BUCKET, "--poll", "0")
    assert result.code == 0, result.err
    return BUCKET


@pytest.fixture
def signed_regions(monkeypatch):
    """Record (service, signing region, operation) of every request the CLI sends.

    moto's EMR server ignores the region of a request (one backend for all), so the EU region is checked where
    AWS decides it: the credential scope the request is signed for.
    """
    import re

    from fruits.cli.cloud import clients as cli_cloud

    sent: list[tuple[str, str, str]] = []
    original = cli_cloud.Aws.client

    def client(self, service):
        made = original(self, service)
        if not getattr(made, "_signed_regions_hooked", False):
            def record(request, **kwargs):
                scope = re.search(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request",
                                  request.headers.get("Authorization", b"").decode()
                                  if isinstance(request.headers.get("Authorization"), bytes)
                                  else request.headers.get("Authorization", ""))
                if scope:
                    sent.append((scope.group(2), scope.group(1), kwargs.get("event_name", "").split(".")[-1]))

            made.meta.events.register("before-send.*.*", record)
            made._signed_regions_hooked = True
        return made

    monkeypatch.setattr(cli_cloud.Aws, "client", client)
    return sent
