"""The featurize step (`steps.featurize_to_output`): one pass of the CNN over the photos writes features/ and
errors/ with their schemas, nothing else stays in OUTPUT or on the session, and every file is accounted for."""

from __future__ import annotations

import shutil

import numpy as np
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


def _spark_splits(sizes: list[int], split_bytes: int, open_cost: int = steps.PHOTO_OPEN_COST) -> list[int]:
    """The cost (bytes + open cost) of each split as Spark packs files (FilePartition.getFilePartitions):
    largest first, a split closed when the next file would take it over `split_bytes`."""
    splits, used = [], 0
    for size in sorted(sizes, reverse=True):
        if used and used + size > split_bytes:
            splits.append(used)
            used = 0
        used += size + open_cost
    return splits + ([used] if used else [])


@pytest.mark.parametrize("n_photos, mean_bytes, slots", [
    (14_820, 4_614, 2),  # the 114-class slice on this machine: 15 tasks under the plain 1 GB cap
    (2_624, 5_208, 2),  # the 4-class sample
    (1_253, 21_697, 2),  # the grocery photos
    (90_000, 5_000, 8),  # the whole Fruits-360 on 8 cores
    (300, 3_000_000, 4),  # phone photos
    (3, 10_000, 2),  # fewer photos than cores
])
def test_photos_are_cut_into_whole_waves_of_balanced_tasks(n_photos, mean_bytes, slots):
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in rng.uniform(0.5, 1.5, n_photos) * mean_bytes]
    split = steps.balanced_split_bytes(n_photos, sum(sizes), slots)
    splits = _spark_splits(sizes, split)
    assert sum(splits) == sum(sizes) + n_photos * steps.PHOTO_OPEN_COST
    assert split <= steps.MAX_SPLIT_BYTES
    if n_photos >= 2 * slots:
        assert len(splits) % slots == 0 and len(splits) >= 2 * slots  # whole waves, at least two a core
        assert min(splits) >= 0.85 * max(splits)  # no straggler: the last task is not left alone
    else:
        assert len(splits) == n_photos
    plain = _spark_splits(sizes, steps.MAX_SPLIT_BYTES)
    assert len(splits) <= max(len(plain), 2 * slots) + slots  # at most one wave more than the plain cap


def test_the_listing_gives_the_bytes_and_featurize_restores_the_split_size(spark, synthetic_photos, tmp_path):
    from fruits.spark.discover import load_files

    files = load_files(spark, synthetic_photos.as_uri())
    assert steps.listed_bytes(files) == sum(p.stat().st_size for p in synthetic_photos.rglob("*.jpg"))
    _featurize(spark, synthetic_photos, tmp_path / "out")
    assert spark.conf.get(steps.SPLIT_BYTES) == str(steps.MAX_SPLIT_BYTES)
    # Set back to what it was, also when the block fails half-way (a notebook's session outlives the run).
    discovered = steps.discover(spark, (synthetic_photos.as_uri(),))
    config = RunConfig(inputs=(str(synthetic_photos),), output=str(tmp_path / "o"), **FAST).validated()
    spark.conf.set(steps.SPLIT_BYTES, "123456789")
    with pytest.raises(RuntimeError, match="half-way"):
        with steps.balanced_photo_splits(spark, discovered, config):
            assert spark.conf.get(steps.SPLIT_BYTES) != "123456789"
            raise RuntimeError("half-way")
    assert spark.conf.get(steps.SPLIT_BYTES) == "123456789"
    spark.conf.set(steps.SPLIT_BYTES, str(steps.MAX_SPLIT_BYTES))
