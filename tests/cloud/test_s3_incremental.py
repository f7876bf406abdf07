"""`fruits run --incremental` with s3a:// INPUTs and OUTPUT, on the moto server, with pyspark 3.5 and the S3A jars
(`make test-spark35`; see test_s3_end_to_end.py for where the jars come from).

A first run into s3a://BUCKET/out/run; then photos are uploaded, one is replaced by another of the same size and one
deleted; `fruits run --incremental` into the same OUTPUT reuses the features of the others. Every request the
incremental run sends to S3 is recorded (moto's recorder): it
never reads the bytes of a photo it reuses, reads exactly the new and changed ones, and lists nothing but the INPUTs and OUTPUT
(the previous run is read through Spark, as Parquet, not by listing the bucket).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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

from .conftest import REGION
from .test_s3_end_to_end import s3a_jars  # noqa: F401 - the fixture: pyspark 3.5 and FRUITS_S3A_JARS, else skip

pytestmark = pytest.mark.slow

BUCKET = "fruits-s3a-incremental"
# A weights file, not random weights: with its digest and LiteRT conversion cached, a `fruits` process loads no
# TensorFlow on the driver (random weights cost 12 CPU seconds of import and model build per process).
FAST = ["--s3a", "--master", "local[2]", "--image-size", "64", "--k", "4"]


def _upload(s3, folder: Path, prefix: str) -> list[str]:
    keys = []
    for path in sorted(folder.rglob("*.jpg")):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


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
    for line in recording.splitlines():
        if line.strip() and (request := _request(json.loads(line))) is not None:
            seen.append(request)


def test_incremental_run_on_s3a_reuses_features_and_reads_only_what_changed(
        s3a_jars, aws, boto, spark, shared_weights, tmp_path,  # noqa: F811 - s3a_jars: the imported fixture
        monkeypatch):  # (first: it skips outside pyspark 3.5)
    from fruits.sample import generate_sample

    s3 = boto("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    local = tmp_path / "photos"
    generate_sample(str(local / "a"), n_per_class=3, test_fraction=0.34, seed=11)  # 15 photos
    generate_sample(str(local / "b"), n_per_class=2, test_fraction=0.5, seed=12)  # 10 photos
    generate_sample(str(local / "arrived"), n_per_class=1, test_fraction=0.0, seed=13)  # 5, uploaded later
    first_keys = _upload(s3, local / "a", "data/a") + _upload(s3, local / "b", "data/b")
    for i in range(30):  # elsewhere in the bucket: an incremental run has no business there
        s3.put_object(Bucket=BUCKET, Key=f"other/{i:03d}.jpg", Body=b"not ours")
    env = {**os.environ, S3A_JARS_ENV: s3a_jars}  # AWS_ENDPOINT_URL = the moto server (conftest)
    inputs = [f"s3a://{BUCKET}/data/a", f"s3a://{BUCKET}/data/b"]
    output = f"s3a://{BUCKET}/out/run"

    _run(env, tmp_path, shared_weights, *inputs, output)
    first = _features(s3, "out/run", tmp_path / "first")
    assert len(first) == len(first_keys) == 25

    new_keys = _upload(s3, local / "arrived", "data/a/arrived")
    deleted = "data/a/Training/banana/banana_0001.jpg"
    s3.delete_object(Bucket=BUCKET, Key=deleted)
    changed = "data/b/Training/lemon/lemon_0001.jpg"
    size = s3.head_object(Bucket=BUCKET, Key=changed)["ContentLength"]
    donor = next(path.read_bytes() for path in sorted(local.rglob("*.jpg")) if path.stat().st_size < size)
    s3.put_object(Bucket=BUCKET, Key=changed, Body=donor + b"\0" * (size - len(donor)))  # same size, new content
    assert s3.head_object(Bucket=BUCKET, Key=changed)["ContentLength"] == size

    with _recorded_requests(aws, tmp_path, monkeypatch) as requests:
        out = _run(env, tmp_path, shared_weights, *inputs, output, "--incremental")
    assert "incremental: 23 reused, 5 new, 1 changed, 0 retried, 1 removed" in out, out

    manifest = _manifest(s3, "out/run")
    reuse = manifest["incremental"]
    assert (reuse["mode"], reuse["reused"], reuse["new"], reuse["changed"], reuse["removed"]) == (
        "incremental", 23, 5, 1, 1)
    assert manifest["n_input"] == manifest["n_features"] == 29 and manifest["n_errors"] == 0
    assert manifest["output"] == output and manifest["versions"]["spark"].startswith("3.5.")
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
    assert [entry["uri"] for entry in manifest["inputs"]] == inputs
    assert [{**entry, "uri": None} for entry in manifest["inputs"]] == [
        {**entry, "uri": None} for entry in full_manifest["inputs"]]  # the same counts, input by input
    for path in set(after) - reused:
        np.testing.assert_allclose(after[path], full[key_of[path]], rtol=0, atol=1e-5, err_msg=path)
    np.testing.assert_allclose(manifest["cumulative_variance"], full_manifest["cumulative_variance"], rtol=1e-6)
