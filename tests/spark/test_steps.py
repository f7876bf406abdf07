"""The featurize step (`steps.featurize_to_output`): one pass of the CNN over the photos writes features/ and
errors/ with their schemas, nothing else stays in OUTPUT or on the session, and every file is accounted for."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fruits.config import RunConfig
from fruits.spark import steps
from tests import bad_images

FAST = {"weights": "random:3", "image_size": 64, "k": 4}
BROKEN = ("truncated.jpg", "not an image.jpg", "bomb.png")


def _featurize(spark, photos, output, **overrides):
    """The step alone, as stages.featurize calls it; returns (result, OUTPUT folder)."""
    config = RunConfig(inputs=(str(photos),), output=str(output), **{**FAST, **overrides}).validated()
    steps.configure_session(spark, config)
    locations = steps.resolve_locations(spark, config)
    uris = steps.output_uris(locations.output)
    model = steps.broadcast_model(spark, config)
    try:
        result = steps.featurize_to_output(spark, steps.discover(spark, locations.inputs), model, config, uris)
    finally:
        model.destroy()
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    return result, output


@pytest.fixture(scope="module")
def mixed_photos(tmp_path_factory, synthetic_photos):
    """Two kinds of synthetic photos and three broken files."""
    root = tmp_path_factory.mktemp("mixed") / "photos"
    for kind in ("apple", "lemon"):
        shutil.copytree(synthetic_photos / "Training" / kind, root / "Training" / kind)
    for name in BROKEN:
        (root / "Training" / "broken" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "Training" / "broken" / name).write_bytes(bad_images.CASES[name][0]())
    return root


def test_one_pass_of_the_cnn_writes_features_and_errors_and_nothing_else(spark, mixed_photos, tmp_path):
    photos = sorted(mixed_photos.rglob("*.jpg")) + sorted(mixed_photos.rglob("*.png"))
    n_good = len(photos) - len(BROKEN)
    # One row per Arrow batch: the UDF's batch counter is then the number of photos it was given.
    result, output = _featurize(spark, mixed_photos, tmp_path / "out", arrow_batch_rows=1)
    assert (result.n_input, result.n_features, result.n_errors) == (len(photos), n_good, len(BROKEN))
    assert result.counters["arrow_batches"] == len(photos)  # every photo through the CNN exactly once
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == 0
    assert sorted(p.name for p in output.iterdir()) == ["errors", "features"]  # nothing else left in OUTPUT
    features = pd.read_parquet(output / "features")
    assert list(features.columns) == ["path", "label", "split", "features"] and len(features) == n_good
    assert set(features["label"]) == {"apple", "lemon"} and set(features["split"]) == {"Training"}
    assert features["features"].map(len).eq(1280).all()
    errors = pd.read_parquet(output / "errors")
    assert pq.read_schema(next((output / "errors").glob("*.parquet"))).names == ["path", "reason"]
    reasons = dict(zip(errors["path"].str.rsplit("/", n=1).str[1], errors["reason"]))
    assert set(reasons) == set(BROKEN) and "decompression bomb" in reasons["bomb.png"]
    assert not set(errors["reason"]) & {"apple", "lemon", "broken"}  # reasons, not labels


def test_without_errors_errors_is_empty_with_its_schema(spark, synthetic_photos, tmp_path):
    result, output = _featurize(spark, synthetic_photos, tmp_path / "out")
    assert (result.n_features, result.n_errors) == (40, 0)
    errors = pd.read_parquet(output / "errors")
    assert list(errors.columns) == ["path", "reason"] and errors.empty


def test_with_only_errors_features_is_empty_with_its_schema(spark, tmp_path):
    photos = tmp_path / "photos" / "Training" / "broken"
    photos.mkdir(parents=True)
    for name in BROKEN + ("empty.jpg",):
        (photos / name).write_bytes(bad_images.CASES[name][0]())
    result, output = _featurize(spark, tmp_path / "photos", tmp_path / "out")
    assert (result.n_input, result.n_features, result.n_errors) == (4, 0, 4)
    assert result.per_input[0].n_skipped == 1  # the empty file, never yielded by Spark's scan
    features = pd.read_parquet(output / "features")
    assert list(features.columns) == ["path", "label", "split", "features"] and features.empty
    errors = pd.read_parquet(output / "errors")
    assert len(errors) == 4 and sum("empty (0 bytes)" in reason for reason in errors["reason"]) == 1


def test_a_second_run_replaces_both_outputs(spark, mixed_photos, synthetic_photos, tmp_path):
    _featurize(spark, mixed_photos, tmp_path / "out")
    result, output = _featurize(spark, synthetic_photos, tmp_path / "out")
    assert len(pd.read_parquet(output / "features")) == result.n_features == 40
    assert pd.read_parquet(output / "errors").empty
