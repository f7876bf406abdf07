"""Spark and S3, end to end, with pyspark 3.5 (EMR 7's Spark) and the S3A connector, on the moto server:
`fruits run s3a:// s3a://` then `fruits serve s3://` on what it wrote, read over HTTP; then `fruits run
--incremental` into the same OUTPUT after photos were uploaded, one replaced by another of the same size and one
deleted, which reuses the features of the others.

Both tests start from the module's one first run (`first_run`): a `fruits run` process is a JVM with S3A on its
class path and cold Python workers, about a minute of CI, and the incremental test needs a finished run on S3
anyway. They used to make one each (a single-INPUT run for serve, a two-INPUT run for --incremental); serve now
reads the two-INPUT run. The tests run in the order written: serve reads the first run, then --incremental
replaces it.

Maven Central is out of reach here, so S3A's jars come from a folder (`--s3a`, FRUITS_S3A_JARS): `make s3a-jars`
takes hadoop-aws-3.3.1 and aws-java-sdk-bundle-1.11.901 out of the sagemaker-pyspark sdist on PyPI, sha256-pinned;
`make test-spark35` sets FRUITS_S3A_JARS. The commands run as a user would type them, in their own processes
(a JVM with S3A on its class path, a web server), against the moto server of tests/cloud/conftest.py.

Every request the incremental run sends to S3 is recorded (moto's recorder): it never reads the bytes of a photo it
reuses, reads exactly the new and changed ones, and lists nothing but the INPUTs and OUTPUT (the previous run is
read through Spark, as Parquet, not by listing the bucket).
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
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fruits.cloud.s3a import S3A_JARS_ENV
from tests.conftest import run_fixture_pipeline
from tests.spark.test_incremental import features_by_path

from .conftest import _AWS_VARIABLES, REGION, reset_moto
from .test_bootstrap_and_package import _in_ci

pytestmark = pytest.mark.slow

BUCKET = "fruits-s3a-e2e"
# A weights file, not random weights: with its digest and LiteRT conversion cached (64 px, as the other runs of
# the shared weights in `make test`), a `fruits` process loads no TensorFlow on the driver (random weights cost
# 12 CPU seconds of import and model build per process).
FAST = ["--s3a", "--master", "local[2]", "--image-size", "64", "--k", "4"]
INPUTS = [f"s3a://{BUCKET}/data/a", f"s3a://{BUCKET}/data/b"]
OUTPUT = f"s3a://{BUCKET}/out/run"


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


def _upload(s3, folder: Path, prefix: str) -> dict[str, bytes]:
    uploaded = {}
    for path in sorted(folder.rglob("*.jpg")):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        uploaded[key] = path.read_bytes()
    return uploaded


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _manifest(s3, output: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"{output}/manifest.json")["Body"].read())


def _table(s3, prefix: str, folder: Path) -> pd.DataFrame:
    """A Parquet folder of the bucket, downloaded and read."""
    for key in _keys(s3, prefix + "/"):
        if key.endswith(".parquet"):
            target = folder / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return pd.read_parquet(folder / prefix)


def _features(s3, output: str, folder: Path) -> dict[str, np.ndarray]:
    table = _table(s3, f"{output}/features", folder)
    return {path: np.asarray(vector, dtype=np.float32) for path, vector in zip(table["path"], table["features"])}


def _run(env: dict, cwd: Path, weights: Path, *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "fruits", "run", *argv, "--weights", str(weights), *FAST], env=env,
                          capture_output=True, text=True, cwd=cwd, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def first_run(s3a_jars, moto_server, shared_weights, tmp_path_factory) -> dict:
    """Two INPUTs uploaded (15 and 10 photos; 5 more kept for later) and 30 other objects elsewhere in the bucket,
    then `fruits run` of both INPUTs into s3a://BUCKET/out/run, in its own process.

    Module-scoped, so it cannot use the per-test `aws` fixture (which empties the server): it empties the server
    once and gives the processes the same fake, isolated AWS environment."""
    import boto3

    from fruits.sample import generate_sample

    reset_moto(moto_server)
    root = tmp_path_factory.mktemp("s3-first-run")
    env = {name: value for name, value in os.environ.items() if name not in _AWS_VARIABLES}
    env.update({  # as tests/cloud/conftest.py's isolated_aws_env and aws: only the moto server can be reached
        "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"), "AWS_CONFIG_FILE": str(root / "no-aws-config"),
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", S3A_JARS_ENV: s3a_jars})
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    local = root / "photos"
    generate_sample(str(local / "a"), n_per_class=3, test_fraction=0.34, seed=11)  # 15 photos
    generate_sample(str(local / "b"), n_per_class=2, test_fraction=0.5, seed=12)  # 10 photos
    generate_sample(str(local / "arrived"), n_per_class=1, test_fraction=0.0, seed=13)  # 5, uploaded later
    uploaded = _upload(s3, local / "a", "data/a") | _upload(s3, local / "b", "data/b")
    for i in range(30):  # elsewhere in the bucket: an incremental run has no business there
        s3.put_object(Bucket=BUCKET, Key=f"other/{i:03d}.jpg", Body=b"not ours")

    _run(env, root, shared_weights, *INPUTS, OUTPUT)
    return {"s3": s3, "env": env, "endpoint": moto_server, "local": local, "uploaded": uploaded,
            "manifest": _manifest(s3, "out/run"), "features": _features(s3, "out/run", root / "first")}


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


def test_fruits_run_on_s3a_then_fruits_serve_on_s3(first_run, tmp_path):
    s3, uploaded = first_run["s3"], first_run["uploaded"]
    manifest = _manifest(s3, "out/run")
    assert manifest == first_run["manifest"], "the incremental test ran first: this test reads the first run"
    assert manifest["n_input"] == manifest["n_features"] == len(uploaded) == 25 and manifest["n_errors"] == 0
    assert manifest["output"].startswith(OUTPUT)
    assert manifest["versions"]["spark"].startswith("3.5.")
    written = set(_keys(s3, "out/run/"))
    assert any(re.match(r"out/run/features/.*\.parquet$", key) for key in written)
    assert any(re.match(r"out/run/pca_csv/.*\.csv$", key) for key in written)

    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "fruits", "serve", f"s3://{BUCKET}/out/run", "--port", str(port)],
        env=first_run["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
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


_LIST_PARAMETERS = {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
                    "fetch-owner", "encoding-type", "marker"}


def _request(entry: dict) -> tuple[str, str | None, str | None] | None:
    """(method, key, list prefix) of a request to BUCKET that moto's recorder kept: an object request has a key
    and no prefix, a listing (GET on the bucket) a prefix ("" for the whole bucket) and no key."""
    target = urllib.parse.urlsplit(entry["url"])
    bucket, _, key = urllib.parse.unquote(target.path).lstrip("/").partition("/")
    if bucket != BUCKET:
        return None
    query = urllib.parse.parse_qs(target.query, keep_blank_values=True)
    if key:
        return entry["method"], key, None
    if entry["method"] == "GET" and not set(query) - _LIST_PARAMETERS:  # not ?location, ?versioning, ...
        return entry["method"], None, query.get("prefix", [""])[0]
    return None


@contextmanager
def _recorded_requests(endpoint: str, folder: Path, monkeypatch):
    """Every request the moto server (in this process) gets meanwhile, through moto's recorder, whose file is
    written in the current folder (`folder` while recording)."""
    def call(action: str, method: str = "POST") -> bytes:
        request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.read()

    seen: list[tuple[str, str | None, str | None]] = []
    with monkeypatch.context() as patch:
        patch.chdir(folder)
        call("reset-recording")
        call("start-recording")
        try:
            yield seen
        finally:
            call("stop-recording")
            recording = call("download-recording", "GET").decode()
    # One JSON object per request, but not always one per line: the threaded server's handlers each append the
    # object, then a newline, in two writes, so two requests at once can leave "{...}{...}\n\n". Decoded as a
    # stream of objects.
    decoder, blanks = json.JSONDecoder(), re.compile(r"\s*")
    position = blanks.match(recording).end()
    while position < len(recording):
        entry, position = decoder.raw_decode(recording, position)
        position = blanks.match(recording, position).end()
        if (request := _request(entry)) is not None:
            seen.append(request)


def test_incremental_run_on_s3a_reuses_features_and_reads_only_what_changed(
        first_run, spark, shared_weights, tmp_path, monkeypatch):
    s3, env, local = first_run["s3"], first_run["env"], first_run["local"]
    first_keys, first = list(first_run["uploaded"]), first_run["features"]
    assert len(first) == len(first_keys) == 25

    new_keys = list(_upload(s3, local / "arrived", "data/a/arrived"))
    deleted = "data/a/Training/banana/banana_0001.jpg"
    s3.delete_object(Bucket=BUCKET, Key=deleted)
    changed = "data/b/Training/lemon/lemon_0001.jpg"
    size = s3.head_object(Bucket=BUCKET, Key=changed)["ContentLength"]
    donor = next(path.read_bytes() for path in sorted(local.rglob("*.jpg")) if path.stat().st_size < size)
    s3.put_object(Bucket=BUCKET, Key=changed, Body=donor + b"\0" * (size - len(donor)))  # same size, new content
    assert s3.head_object(Bucket=BUCKET, Key=changed)["ContentLength"] == size

    with _recorded_requests(first_run["endpoint"], tmp_path, monkeypatch) as requests:
        out = _run(env, tmp_path, shared_weights, *INPUTS, OUTPUT, "--incremental")
    assert "incremental: 23 reused, 5 new, 1 changed, 0 retried, 1 removed" in out, out

    manifest = _manifest(s3, "out/run")
    reuse = manifest["incremental"]
    assert (reuse["mode"], reuse["reused"], reuse["new"], reuse["changed"], reuse["removed"]) == (
        "incremental", 23, 5, 1, 1)
    assert manifest["n_input"] == manifest["n_features"] == 29 and manifest["n_errors"] == 0
    assert manifest["output"] == OUTPUT and manifest["versions"]["spark"].startswith("3.5.")
    assert not _keys(s3, "out/run/_incremental/")  # the staging folder is gone after the swap

    uri = lambda key: f"s3a://{BUCKET}/{key}"  # noqa: E731 - the path column holds the s3a URI
    after = _features(s3, "out/run", tmp_path / "after")
    reused = set(first) - {uri(deleted), uri(changed)}
    assert set(after) == reused | {uri(key) for key in new_keys} | {uri(changed)}
    for path in reused:
        assert after[path].tobytes() == first[path].tobytes(), path

    # What the incremental run sent to S3.
    photos_read = {key for method, key, _ in requests if method == "GET" and key and key.endswith(".jpg")}
    assert photos_read == set(new_keys) | {changed}
    # (A reused photo does get metadata requests, not GETs: its bytes are never read.)
    read = {key for method, key, _ in requests if method == "GET" and key}
    assert not read & {key for key in first_keys if uri(key) in reused}, "a reused photo was read"
    touched = {key for _, key, _ in requests if key}
    assert all(key.startswith(("data/a", "data/b", "out/run")) for key in touched), sorted(touched)
    listed = {prefix for _, _, prefix in requests if prefix is not None}
    assert listed and all(prefix.startswith(("data/", "out/")) for prefix in listed), sorted(listed)

    # The new and changed photos got what a full run of the final INPUTs gives them. That full run reads the
    # bucket's photos, byte for byte, from a local copy, on the tests' Spark session: what S3A brings is proved
    # above, and a third `fruits run` process (a JVM, S3A and cold Python workers) cost two minutes.
    bucket = tmp_path / "bucket"
    for key in _keys(s3, "data/"):
        (bucket / key).parent.mkdir(parents=True, exist_ok=True)
        (bucket / key).write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    run_fixture_pipeline(spark, [bucket / "data" / "a", bucket / "data" / "b"], tmp_path / "full",
                         weights=str(shared_weights), image_size=64, k=4)  # FAST's
    full_manifest = json.loads((tmp_path / "full" / "manifest.json").read_text())
    key_of = {uri(key): key for key in _keys(s3, "data/")}
    full = {path.split(f"{bucket}/", 1)[1]: vector for path, vector in features_by_path(tmp_path / "full").items()}
    assert set(full) == {key_of[path] for path in after}
    assert [entry["uri"] for entry in manifest["inputs"]] == INPUTS
    assert [{**entry, "uri": None} for entry in manifest["inputs"]] == [
        {**entry, "uri": None} for entry in full_manifest["inputs"]]  # the same counts, input by input
    for path in set(after) - reused:
        np.testing.assert_allclose(after[path], full[key_of[path]], rtol=0, atol=1e-5, err_msg=path)
    np.testing.assert_allclose(manifest["cumulative_variance"], full_manifest["cumulative_variance"], rtol=1e-6)
