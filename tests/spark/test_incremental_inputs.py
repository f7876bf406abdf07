"""`fruits run INPUT... OUTPUT --incremental` with several INPUTs, end to end on the shared Spark session.

A photo is known by its full path, not by the INPUT it was listed under: photos of an INPUT dropped since the
previous run are "removed", photos of an INPUT added are "new", and INPUTs regrouped (one parent folder instead of
its sub-folders) reuse every photo. The manifest's `inputs` counts each INPUT as given this time.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fruits.sample import generate_sample
from tests.conftest import run_fixture_pipeline
from tests.spark.test_incremental import (FAST, assert_same_pca_up_to_sign, features_by_path, pca_by_path,
                                         same_size_other_content)

# Five runs (two full, three incremental) in the fixture: 9 minutes on 2 cores shared with other Spark jobs.
pytestmark = pytest.mark.slow


def file_uri(path) -> str:
    return f"file:{path}"  # what the path column holds


def input_uri(path) -> str:
    return f"file://{path}"  # how the manifest names an INPUT


def photos_under(folder) -> set[str]:
    return {file_uri(path) for path in folder.rglob("*.jpg")}


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    """Two INPUTs, a first run; then INPUT a grows and loses a photo, a photo of INPUT b is replaced (same name,
    same size); `--incremental` into the same OUTPUT, and a full run of the final INPUTs elsewhere. Then INPUT b
    is dropped and INPUT c added (one `--incremental` run), then b deleted and the photos' parent folder given as
    the one INPUT (another)."""
    root = tmp_path_factory.mktemp("incremental-inputs")
    photos = root / "photos"
    a, b, c = photos / "a", photos / "b", photos / "c"
    generate_sample(str(a), n_per_class=4, test_fraction=0.25, seed=21)  # 20 photos
    generate_sample(str(b), n_per_class=3, test_fraction=0.34, seed=22)  # 15 photos
    output = root / "out"
    first_manifest = run_fixture_pipeline(spark, [a, b], output, **FAST)
    first = features_by_path(output)

    generate_sample(str(a / "arrived"), n_per_class=2, test_fraction=0.5, seed=23)  # 10 new photos in a
    deleted = sorted((a / "Training" / "banana").glob("*.jpg"))[0]
    deleted.unlink()
    changed = sorted((b / "Training" / "lemon").glob("*.jpg"))[0]
    same_size_other_content(changed, sorted(b.rglob("*.jpg")))
    manifest = run_fixture_pipeline(spark, [a, b], output, incremental="on", **FAST)
    after, pca = features_by_path(output), pca_by_path(output)
    full_output = root / "full"
    full_manifest = run_fixture_pipeline(spark, [a, b], full_output, **FAST)

    generate_sample(str(c), n_per_class=1, test_fraction=0.0, seed=24)  # 5 photos, a new INPUT
    photos_of = {name: photos_under(folder) for name, folder in (("a", a), ("b", b), ("c", c))}
    swapped_manifest = run_fixture_pipeline(spark, [a, c], output, incremental="on", **FAST)
    swapped = features_by_path(output)

    shutil.rmtree(b)
    regrouped_manifest = run_fixture_pipeline(spark, [photos], output, incremental="on", **FAST)
    regrouped = features_by_path(output)
    return {
        "dirs": {"a": a, "b": b, "c": c, "photos": photos}, "photos_of": photos_of,
        "output": output, "full": full_output,
        "first": first, "first_manifest": first_manifest,
        "after": after, "pca": pca, "manifest": manifest, "full_manifest": full_manifest,
        "swapped": swapped, "swapped_manifest": swapped_manifest,
        "regrouped": regrouped, "regrouped_manifest": regrouped_manifest,
        "changed": file_uri(changed), "deleted": file_uri(deleted),
    }


def test_counts_of_an_incremental_run_over_two_inputs(runs):
    first, manifest, full = runs["first_manifest"], runs["manifest"], runs["full_manifest"]
    reuse = manifest.incremental
    assert reuse.mode == "incremental" and reuse.reason is None
    assert (reuse.new, reuse.changed, reuse.retried, reuse.removed) == (10, 1, 0, 1)
    assert reuse.reused == first.n_input - 2
    assert manifest.n_input == first.n_input + 10 - 1 == full.n_input
    # Each INPUT is counted as a full run of the same INPUTs counts it.
    assert manifest.inputs == full.inputs
    assert [entry.n_input for entry in manifest.inputs] == [20 + 10 - 1, 15]


def test_reused_features_are_bit_identical_and_new_ones_are_a_full_runs(runs):
    first, after, full = runs["first"], runs["after"], features_by_path(runs["full"])
    assert set(after) == set(full) == set(first) - {runs["deleted"]} | photos_under(runs["dirs"]["a"] / "arrived")
    reused = set(first) - {runs["deleted"], runs["changed"]}
    for path in reused:
        assert after[path].tobytes() == first[path].tobytes(), path
    featurized = set(after) - reused
    assert len(featurized) == 11 and runs["changed"] in featurized
    assert not np.array_equal(after[runs["changed"]], first[runs["changed"]])
    for path in featurized:
        np.testing.assert_allclose(after[path], full[path], rtol=0, atol=1e-5, err_msg=path)


def test_pca_over_two_inputs_is_the_full_runs_up_to_sign(runs):
    assert_same_pca_up_to_sign(runs["pca"], runs["manifest"], pca_by_path(runs["full"]), runs["full_manifest"])


def test_photos_of_a_dropped_input_are_removed_and_of_a_new_input_new(runs):
    reuse, photos_of = runs["swapped_manifest"].incremental, runs["photos_of"]
    assert (reuse.reused, reuse.new, reuse.changed, reuse.retried, reuse.removed) == (
        len(photos_of["a"]), len(photos_of["c"]), 0, 0, len(photos_of["b"]))
    swapped = runs["swapped"]
    assert set(swapped) == photos_of["a"] | photos_of["c"]
    for path in photos_of["a"]:
        assert swapped[path].tobytes() == runs["after"][path].tobytes(), path
    assert [entry.uri for entry in runs["swapped_manifest"].inputs] == [
        input_uri(runs["dirs"]["a"]), input_uri(runs["dirs"]["c"])]
    assert [entry.n_features for entry in runs["swapped_manifest"].inputs] == [
        len(photos_of["a"]), len(photos_of["c"])]


def test_regrouped_inputs_reuse_every_photo(runs):
    manifest, photos_of = runs["regrouped_manifest"], runs["photos_of"]
    reuse = manifest.incremental
    assert (reuse.reused, reuse.new, reuse.changed, reuse.retried, reuse.removed) == (
        len(photos_of["a"]) + len(photos_of["c"]), 0, 0, 0, 0)
    assert [(entry.uri, entry.n_input) for entry in manifest.inputs] == [
        (input_uri(runs["dirs"]["photos"]), len(photos_of["a"]) + len(photos_of["c"]))]
    assert {path: vector.tobytes() for path, vector in runs["regrouped"].items()} == {
        path: vector.tobytes() for path, vector in runs["swapped"].items()}
