"""Spark and S3, end to end: `fruits run s3a:// s3a://` on the moto server with pyspark 3.5 (EMR 7's Spark) and the
S3A connector, then `fruits serve s3://` on what it wrote, read over HTTP.

Maven Central is out of reach here, so S3A's jars come from a folder (`--s3a`, FRUITS_S3A_JARS): `make s3a-jars`
takes hadoop-aws-3.3.1 and aws-java-sdk-bundle-1.11.901 out of the sagemaker-pyspark sdist on PyPI, sha256-pinned;
`make test-spark35` sets FRUITS_S3A_JARS. Both commands run as a user would type them, in their own processes
(a JVM with S3A on its class path, a web server), against the moto server of tests/cloud/conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from fruits.cloud.s3a import S3A_JARS_ENV

from .conftest import REGION
from .test_bootstrap_and_package import _in_ci

pytestmark = pytest.mark.slow

BUCKET = "fruits-s3a-e2e"


@pytest.fixture(scope="module")
def s3a_jars() -> str:
    import pyspark

    if not pyspark.__version__.startswith("3.5."):
        pytest.skip(f"the S3A jars are for pyspark 3.5's Hadoop 3.3 (this venv: {pyspark.__version__}): "
                    "`make test-spark35` runs this")
    jars = os.environ.get(S3A_JARS_ENV)
    if not jars:
        message = f"{S3A_JARS_ENV} is not set: `make test-spark35` fetches the jars (make s3a-jars) and sets it"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return jars


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_until_serving(process: subprocess.Popen, url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fruits serve exited with {process.returncode}: {process.stderr.read()[-3000:]}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"fruits serve did not answer {url} within {seconds:.0f} s")


def test_fruits_run_on_s3a_then_fruits_serve_on_s3(aws, boto, s3a_jars, shared_weights, tmp_path):
    from fruits.sample import generate_sample

    photos = tmp_path / "photos"
    generate_sample(str(photos), n_per_class=3, test_fraction=0.34, seed=11)
    s3 = boto("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    uploaded: dict[str, bytes] = {}
    for path in sorted(p for p in photos.rglob("*") if p.is_file()):
        key = f"data/photos/{path.relative_to(photos).as_posix()}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        uploaded[key] = path.read_bytes()
    env = {**os.environ, S3A_JARS_ENV: s3a_jars}  # AWS_ENDPOINT_URL = the moto server, fake keys (conftest)

    run = subprocess.run(
        [sys.executable, "-m", "fruits", "run", f"s3a://{BUCKET}/data/photos", f"s3a://{BUCKET}/out/run1",
         "--s3a", "--master", "local[2]", "--weights", str(shared_weights), "--image-size", "96", "--k", "4"],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)

    assert run.returncode == 0, run.stderr[-4000:]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="out/run1/manifest.json")["Body"].read())
    assert manifest["n_input"] == manifest["n_features"] == len(uploaded) and manifest["n_errors"] == 0
    assert manifest["output"].startswith(f"s3a://{BUCKET}/out/run1")
    assert manifest["versions"]["spark"].startswith("3.5.")
    written = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/run1/")["Contents"]}
    assert any(re.match(r"out/run1/features/.*\.parquet$", key) for key in written)
    assert any(re.match(r"out/run1/pca_csv/.*\.csv$", key) for key in written)

    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "fruits", "serve", f"s3://{BUCKET}/out/run1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(serve, f"{base}/healthz", seconds=180)
        status, body = _get(f"{base}/api/run")
        assert status == 200
        summary = json.loads(body)
        assert summary["n_images"] == len(uploaded) and summary["k_pca"] == 4
        assert sorted(summary["classes"]) == sorted({key.split("/")[3] for key in uploaded})
        status, page = _get(f"{base}/images")
        assert status == 200
        image_id = re.search(r'href="/images/([^"/?#]+)"', page.decode()).group(1)
        status, photo = _get(f"{base}/images/{image_id}/file")  # the photo itself, read back from S3
        assert status == 200 and photo in uploaded.values()
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
