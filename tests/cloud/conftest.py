"""Fixtures of the `fruits cloud` tests: a moto server on 127.0.0.1 (one per module, reset before each test),
an AWS environment that can only ever reach it, and a helper that runs the CLI in-process.

Nothing here reaches AWS: credentials are fake, the instance metadata service is disabled (botocore would
otherwise try 169.254.169.254 when no credentials are found), and AWS_ENDPOINT_URL points at the local server.
"""

from __future__ import annotations

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
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """The moto server, emptied, with fake credentials in the environment; returns its endpoint URL."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return moto_server


@pytest.fixture
def boto(aws):
    """Plain boto3 clients on the moto server, to set things up and read them back."""
    import boto3

    def client(service: str, region: str = REGION):
        return boto3.client(service, region_name=region)

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
