"""Reading a `fruits run` OUTPUT without Spark: local and s3:// (moto), and every way it can be unusable."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from PIL import Image

from fruits.errors import RunOutputError
from fruits.run_output import (
    Store,
    describe_image,
    image_id,
    open_run_output,
    s3_options_from_env,
    thumbnail_jpeg,
)
from tests import bad_images


def _copy_run(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


def test_synthetic_run_loads_with_its_manifest_projection_and_rows(synthetic_run):
    run = open_run_output(str(synthetic_run))
    manifest = json.loads((synthetic_run / "manifest.json").read_text())
    images = run.images
    assert len(images) == manifest["n_features"] == 40
    assert images.coords.shape == (40, manifest["k"]) and run.projection.k == manifest["k"]
    assert list(images.paths) == sorted(images.paths)
    assert all(images.ids[i] == image_id(images.paths[i]) for i in range(len(images)))
    assert len(set(images.ids)) == 40 and images.row_of[images.ids[7]] == 7
    assert set(images.splits) == {"Training", "Test"} and run.has_test_split
    assert set(images.labels) == set(manifest["labels"])


def test_coordinates_are_the_projection_of_the_features(synthetic_run):
    """pca/ is what pca_model/ gives for features/: the projection we load is the one the run used."""
    run = open_run_output(str(synthetic_run))
    table = pads.dataset(str(synthetic_run / "features"), format="parquet").to_table(columns=["path", "features"])
    features = {row["path"]: np.asarray(row["features"]) for row in table.to_pylist()}
    stacked = np.stack([features[p] for p in run.images.paths])
    np.testing.assert_allclose(run.projection.project(stacked), run.images.coords, atol=1e-4)


def test_a_file_uri_and_a_trailing_slash_work(synthetic_run):
    assert len(open_run_output(f"file://{synthetic_run}/").images) == 40


def test_photos_are_read_through_the_store(synthetic_run):
    run = open_run_output(str(synthetic_run))
    path = run.images.paths[0]
    assert run.read_image(0) == Path(path.replace("file:", "", 1)).read_bytes()


def _one_line_error(location: str) -> str:
    with pytest.raises(RunOutputError) as caught:
        open_run_output(location)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_output(tmp_path):
    assert "OUTPUT not found" in _one_line_error(str(tmp_path / "nowhere"))


def test_output_without_manifest(tmp_path):
    (tmp_path / "half").mkdir()
    assert "no manifest.json" in _one_line_error(str(tmp_path / "half"))


def test_output_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "is a file" in _one_line_error(str(tmp_path / "file"))


def test_manifest_of_a_failed_run(synthetic_run, tmp_path):
    run = _copy_run(synthetic_run, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "failed"}))
    assert "did not succeed" in _one_line_error(str(run))


@pytest.mark.parametrize("missing", ["pca", "pca_model"])
def test_output_missing_a_table(synthetic_run, tmp_path, missing):
    run = _copy_run(synthetic_run, tmp_path)
    shutil.rmtree(run / missing)
    assert f"{missing}/" in _one_line_error(str(run))


def test_manifest_counts_that_do_not_match_the_tables(synthetic_run, tmp_path):
    run = _copy_run(synthetic_run, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "n_features": manifest["n_features"] + 1}))
    assert "incomplete" in _one_line_error(str(run))


def test_unsupported_scheme_is_one_clear_line():
    assert "s3:// only" in _one_line_error("hdfs://namenode/out")


def test_s3_options_from_the_standard_variables():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_DEFAULT_REGION": "eu-west-3"}
    assert s3_options_from_env(env) == {"endpoint_override": "127.0.0.1:5000", "scheme": "http",
                                        "region": "eu-west-3"}
    assert s3_options_from_env({"AWS_ENDPOINT_URL_S3": "minio:9000", "AWS_ENDPOINT_URL": "x"})["scheme"] == "https"
    assert s3_options_from_env({}) == {}


@pytest.fixture
def moto_s3(monkeypatch, tmp_path):
    """A moto S3 server on 127.0.0.1 and an AWS environment that can only reach it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    import boto3

    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="eu-west-3")
    client.create_bucket(Bucket="fruits-out", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    yield client
    server.stop()


def test_output_on_s3_reads_like_the_local_one(synthetic_run, moto_s3):
    for path in synthetic_run.rglob("*"):
        if path.is_file() and not path.name.endswith(".crc"):
            moto_s3.upload_file(str(path), "fruits-out", f"runs/one/{path.relative_to(synthetic_run)}")
    photo = bad_images.jpeg((40, 30), (220, 200, 30))
    moto_s3.put_object(Bucket="fruits-out", Key="photos/Training/lemon/a photo.jpg", Body=photo)

    local = open_run_output(str(synthetic_run))
    remote = open_run_output("s3://fruits-out/runs/one", Store())
    np.testing.assert_array_equal(remote.images.coords, local.images.coords)
    assert list(remote.images.ids) == list(local.images.ids)
    assert remote.manifest == local.manifest
    assert remote.store.read_bytes("s3a://fruits-out/photos/Training/lemon/a photo.jpg") == photo
    with pytest.raises(RunOutputError, match="OUTPUT not found"):
        open_run_output("s3://fruits-out/runs/none", Store())
    with pytest.raises(RunOutputError, match="no manifest.json"):
        open_run_output("s3://fruits-out/photos", Store())


def _white_with_square(colour, size=100, square=50) -> bytes:
    image = Image.new("RGB", (size, size), (255, 255, 255))
    offset = (size - square) // 2
    image.paste(colour, (offset, offset, offset + square, offset + square))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_description_ignores_the_white_background():
    info = describe_image(_white_with_square((200, 30, 30)))
    assert (info.width, info.height, info.image_format) == (100, 100, "PNG")
    assert info.colour_name == "red" and info.hue is not None and (info.hue < 15 or info.hue > 345)
    # A quarter of the pixels are the red square: brightness = 3/4 white + 1/4 of the square's luma.
    expected = (0.75 * 255 + 0.25 * (0.299 * 200 + 0.587 * 30 + 0.114 * 30)) / 255
    assert info.brightness == pytest.approx(expected, abs=0.01)
    assert describe_image(_white_with_square((255, 255, 255))).colour_name == "white"
    assert describe_image(_white_with_square((240, 200, 20))).colour_name == "yellow"
    assert info.file_bytes == len(_white_with_square((200, 30, 30)))


def test_thumbnails_carry_no_metadata():
    image = Image.new("RGB", (400, 300), (30, 160, 40))
    exif = Image.Exif()
    exif[0x010F] = "SECRET-PHONE-MAKER"  # Make
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    assert b"SECRET-PHONE-MAKER" in buffer.getvalue()
    thumbnail = thumbnail_jpeg(buffer.getvalue(), 160)
    assert b"SECRET-PHONE-MAKER" not in thumbnail and b"Exif" not in thumbnail
    assert max(Image.open(io.BytesIO(thumbnail)).size) == 160
