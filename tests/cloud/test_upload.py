"""`fruits cloud upload` against moto: parallel upload, skip logic (same size + checksum), the report."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .conftest import BUCKET, REGION


def _photos(root: Path) -> dict[str, bytes]:
    files = {
        "Training/Apple Red 1/0_100.jpg": b"\xff\xd8apple" * 50,
        "Training/Banane écrasée/1.jpg": b"\xff\xd8banana" * 70,
        "Test/Kiwi/2.png": b"\x89PNGkiwi" * 30,
        "notes.txt": b"not a photo but uploaded all the same",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_upload_puts_every_file_with_its_checksum(cli, boto, ready_bucket, tmp_path):
    files = _photos(tmp_path / "photos")

    result = cli("cloud", "upload", str(tmp_path / "photos"), f"s3://{BUCKET}/data/raw")

    assert result.code == 0, result.err
    assert "uploaded 4 file(s)" in result.out and "skipped 0 file(s)" in result.out
    assert "upload: 4/4 files" in result.err  # the progress line
    s3 = boto("s3")
    for name, data in files.items():
        key = f"data/raw/{name}"
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
        assert s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert s3.head_object(Bucket=BUCKET, Key="data/raw/Test/Kiwi/2.png")["ContentType"] == "image/png"


def test_a_second_upload_skips_everything_and_says_so(cli, ready_bucket, tmp_path):
    _photos(tmp_path / "photos")
    assert cli("cloud", "upload", str(tmp_path / "photos"), f"s3://{BUCKET}/data/raw").code == 0

    again = cli("cloud", "upload", str(tmp_path / "photos"), f"s3://{BUCKET}/data/raw/")

    assert again.code == 0, again.err
    assert "uploaded 0 file(s)" in again.out
    assert "skipped 4 file(s)" in again.out and "same size and checksum" in again.out
    for name in ("data/raw/Training/Apple Red 1/0_100.jpg", "data/raw/Training/Banane écrasée/1.jpg",
                 "data/raw/Test/Kiwi/2.png", "data/raw/notes.txt"):
        assert f"  {name}" in again.out


def test_a_changed_file_of_the_same_size_is_uploaded_again(cli, boto, ready_bucket, tmp_path):
    _photos(tmp_path / "photos")
    assert cli("cloud", "upload", str(tmp_path / "photos"), f"s3://{BUCKET}/raw").code == 0
    kiwi = tmp_path / "photos" / "Test" / "Kiwi" / "2.png"
    changed = kiwi.read_bytes()[::-1]
    kiwi.write_bytes(changed)  # same size, other content

    result = cli("cloud", "upload", str(tmp_path / "photos"), f"s3://{BUCKET}/raw")

    assert "uploaded 1 file(s)" in result.out and "skipped 3 file(s)" in result.out
    assert "  raw/Test/Kiwi/2.png" not in result.out
    assert boto("s3").get_object(Bucket=BUCKET, Key="raw/Test/Kiwi/2.png")["Body"].read() == changed


def test_the_sha256_metadata_decides_when_the_etag_is_not_the_md5(boto, ready_bucket, tmp_path):
    """With SSE-KMS (or a multipart upload) the ETag is not the MD5: the stored sha256 is compared instead."""
    from fruits.cloud.upload import LocalFile, _already_there, digests

    path = tmp_path / "a.jpg"
    path.write_bytes(b"photo bytes")
    md5, sha256 = digests(path)
    s3 = boto("s3")
    s3.put_object(Bucket=BUCKET, Key="k/a.jpg", Body=path.read_bytes(), Metadata={"sha256": sha256})
    item = LocalFile(path, "k/a.jpg", path.stat().st_size)
    kms_like = {"Key": "k/a.jpg", "Size": item.size, "ETag": '"0123456789abcdef0123456789abcdef-1"'}

    assert _already_there(s3, BUCKET, item, kms_like, md5, sha256) is True
    assert _already_there(s3, BUCKET, item, kms_like, md5, "0" * 64) is False
    assert _already_there(s3, BUCKET, item, {**kms_like, "Size": item.size + 1}, md5, sha256) is False
    assert _already_there(s3, BUCKET, item, None, md5, sha256) is False


def test_upload_refuses_a_bucket_in_another_region(cli, boto, tmp_path):
    boto("s3", "eu-central-1").create_bucket(Bucket=BUCKET,
                                            CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    _photos(tmp_path / "photos")

    result = cli("cloud", "upload", str(tmp_path / "photos"), f"s3://{BUCKET}/raw", "--region", REGION)

    assert result.code == 2
    assert result.error_lines == [f"fruits: error: bucket {BUCKET} is in eu-central-1, not {REGION}: pass --region "
                                  "eu-central-1 if that is in the EU"]
    assert "Contents" not in boto("s3", "eu-central-1").list_objects_v2(Bucket=BUCKET)


def test_upload_of_an_empty_folder_is_refused(cli, ready_bucket, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("cloud", "upload", str(tmp_path / "empty"), f"s3://{BUCKET}/raw")
    assert result.code == 2 and "no file to upload" in result.err


@pytest.mark.parametrize("workers", ["1", "16"])
def test_upload_with_any_number_of_workers_gives_the_same_objects(cli, boto, ready_bucket, tmp_path, workers):
    for i in range(30):
        (tmp_path / "many").mkdir(exist_ok=True)
        (tmp_path / "many" / f"{i:03d}.jpg").write_bytes(bytes([i]) * (100 + i))

    result = cli("cloud", "upload", str(tmp_path / "many"), f"s3://{BUCKET}/many", "--workers", workers)

    assert result.code == 0 and "uploaded 30 file(s)" in result.out
    listed = boto("s3").list_objects_v2(Bucket=BUCKET, Prefix="many/")["Contents"]
    assert sorted((o["Key"], o["Size"]) for o in listed) == [(f"many/{i:03d}.jpg", 100 + i) for i in range(30)]
    assert "... and 10 more" not in result.out  # nothing skipped on a first upload
