import pytest

from fruits.storage import is_local, join, local_path, qualify, scheme, split_s3


def test_uris():
    assert scheme("s3://b/k") == "s3" and scheme("/x") is None and scheme("C:\\data") is None
    assert is_local("file:///tmp/x") and is_local("relative/dir") and not is_local("s3a://b/k")
    assert local_path("file:///tmp/a b") == "/tmp/a b"
    assert qualify("/tmp/x") == "file:///tmp/x"
    assert qualify("/tmp/x", local_default=False) == "/tmp/x"
    assert qualify("s3://b/k") == "s3://b/k"
    assert join("s3://b/k/", "features") == "s3://b/k/features"
    assert split_s3("s3://bucket/a/b.jpg") == ("bucket", "a/b.jpg")
    with pytest.raises(ValueError):
        split_s3("/local/path")
