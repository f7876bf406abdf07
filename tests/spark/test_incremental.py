"""`fruits run --incremental` end to end on the shared Spark session: what is reused, what is featurized again,
what the manifest counts, and that the result is the full run's (features equal, PCA equal up to sign)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from fruits.spark.incremental import NotReusableError
from tests import bad_images
from tests.conftest import run_cli, run_fixture_pipeline

FAST = {"weights": "random:0", "image_size": 64, "k": 4}
LATER = "raspberry"  # the kind that arrives after the first run


def features_by_path(output) -> dict[str, np.ndarray]:
    table = pd.read_parquet(output / "features")
    return {path: np.asarray(vector, dtype=np.float32) for path, vector in zip(table["path"], table["features"])}


def pca_by_path(output) -> tuple[list[str], np.ndarray]:
    table = pd.read_parquet(output / "pca").sort_values("path")
    return list(table["path"]), np.stack(table["pca"].to_numpy())


def assert_same_pca_up_to_sign(pca, manifest, full_pca, full_manifest):
    """`pca` (pca_by_path of a run) equals the full run's, photo by photo, up to the sign of each axis; same
    spectrum."""
    paths, incremental = pca
    full_paths, full = full_pca
    assert paths == full_paths
    signs = np.sign(np.sum(incremental * full, axis=0))
    np.testing.assert_allclose(incremental * signs, full, atol=1e-3)
    np.testing.assert_allclose(manifest.cumulative_variance, full_manifest.cumulative_variance, rtol=1e-6)


def bump_mtime(path, seconds=10):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def same_size_other_content(target, donors):
    """Rewrite `target` with another photo padded to the very same size (JPEG decoders ignore what follows
    the end-of-image marker): same name, same size, other content, new time."""
    size = target.stat().st_size
    donor = next(d for d in donors if d != target and d.stat().st_size < size)
    data = donor.read_bytes()
    target.write_bytes(data + b"\0" * (size - len(data)))
    bump_mtime(target)
    assert target.stat().st_size == size


@pytest.fixture(scope="module")
def grown(spark, synthetic_photos, tmp_path_factory):
    """A first run on part of a folder; then photos added, one changed, one deleted, one made unreadable;
    then `--incremental` into the same OUTPUT, and a full run of the final folder elsewhere."""
    root = tmp_path_factory.mktemp("incremental")
    photos = root / "photos"
    shutil.copytree(synthetic_photos, photos)
    later = [path for path in photos.rglob("*.jpg") if path.parent.name == LATER]
    parked = root / "parked"
    for path in later:  # not there for the first run
        destination = parked / path.relative_to(photos)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, destination)
    # Spark globs the paths it is given: a new photo whose name looks like a glob must be read as itself.
    odd = sorted(parked.rglob("*.jpg"))[0]
    odd.rename(odd.with_name("fraise [1] {é} *.jpg"))
    output = root / "out"
    first_manifest = run_fixture_pipeline(spark, photos, output, **FAST)
    first = features_by_path(output)

    apples = sorted((photos / "Training" / "apple").glob("*.jpg"))
    changed, unreadable, deleted = apples[0], apples[1], apples[2]
    same_size_other_content(changed, sorted(photos.rglob("*.jpg")))
    unreadable.write_bytes(bad_images.truncated_jpeg())  # a failed copy: new content that does not decode
    deleted.unlink()
    shutil.copytree(parked, photos, dirs_exist_ok=True)

    manifest = run_fixture_pipeline(spark, photos, output, incremental="on", **FAST)
    full_output = root / "full"
    full_manifest = run_fixture_pipeline(spark, photos, full_output, **FAST)
    uri = lambda path: f"file:{path}"  # noqa: E731 - the path column holds Hadoop's file: URIs
    return {
        "output": output, "full": full_output, "first": first, "first_manifest": first_manifest,
        "manifest": manifest, "full_manifest": full_manifest, "n_later": len(later),
        "changed": uri(changed), "unreadable": uri(unreadable), "deleted": uri(deleted),
    }


def test_manifest_counts_what_was_reused_new_changed_and_removed(grown):
    manifest, first = grown["manifest"], grown["first_manifest"]
    reuse = manifest.incremental
    assert reuse.mode == "incremental" and reuse.reason is None
    assert (reuse.new, reuse.changed, reuse.retried, reuse.removed) == (grown["n_later"], 2, 0, 1)
    assert reuse.reused == first.n_input - 3
    assert manifest.n_input == first.n_input - 1 + grown["n_later"] == grown["full_manifest"].n_input
    assert reuse.reused + reuse.new + reuse.changed + reuse.retried == manifest.n_input
    assert (manifest.n_features, manifest.n_errors) == (manifest.n_input - 1, 1)
    assert json.loads((grown["output"] / "manifest.json").read_text()) == manifest.to_dict()
    assert reuse.previous_started_at == first.started_at
    assert {"featurize", "pca", "write", "total"} <= set(manifest.timings_s)


def test_reused_features_are_bit_identical_to_the_first_run(grown):
    now = features_by_path(grown["output"])
    reused = set(grown["first"]) - {grown["changed"], grown["unreadable"], grown["deleted"]}
    assert reused and reused <= set(now)
    for path in reused:
        assert now[path].tobytes() == grown["first"][path].tobytes(), path


def test_new_and_changed_photos_get_the_features_of_a_full_run(grown):
    now, full = features_by_path(grown["output"]), features_by_path(grown["full"])
    assert set(now) == set(full)
    assert not np.array_equal(now[grown["changed"]], grown["first"][grown["changed"]])
    for path in set(full) - set(grown["first"]) | {grown["changed"]}:
        np.testing.assert_allclose(now[path], full[path], rtol=0, atol=1e-5, err_msg=path)


def test_removed_and_unreadable_photos_lose_their_features(grown):
    now = features_by_path(grown["output"])
    assert grown["deleted"] not in now and grown["unreadable"] not in now
    errors = pd.read_parquet(grown["output"] / "errors")
    assert list(errors["path"]) == [grown["unreadable"]]
    listing = pd.read_parquet(grown["output"] / "listing")
    assert len(listing) == grown["manifest"].n_input and grown["deleted"] not in set(listing["path"])


def test_pca_is_the_full_runs_up_to_sign(grown):
    assert grown["manifest"].k == grown["full_manifest"].k
    assert_same_pca_up_to_sign(pca_by_path(grown["output"]), grown["manifest"], pca_by_path(grown["full"]),
                               grown["full_manifest"])
    csv = pd.concat(pd.read_csv(part) for part in (grown["output"] / "pca_csv").glob("part-*.csv"))
    assert len(csv) == grown["manifest"].n_features
    assert not (grown["output"] / "_incremental").exists()


def test_the_swapped_in_output_opens_with_the_readers(grown):
    from fruits.run_output.reader import open_run_output

    opened = open_run_output(str(grown["output"]))
    assert len(opened.images) == grown["manifest"].n_features


@pytest.fixture(scope="module")
def base_run(spark, synthetic_photos, tmp_path_factory):
    """One finished run on the synthetic photos; each test works on a copy of it."""
    output = tmp_path_factory.mktemp("base") / "out"
    run_fixture_pipeline(spark, synthetic_photos, output, **FAST)
    return output


@pytest.fixture
def previous_run(base_run, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(base_run, output)
    return output


def part_files(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("part-*")}


def test_an_unchanged_folder_reuses_everything(synthetic_photos, previous_run, capsys):
    before = features_by_path(previous_run)
    files_before = part_files(previous_run / "features")
    code, out, _ = run_cli(capsys, "run", str(synthetic_photos), str(previous_run), "--incremental",
                           "--weights", "random:0", "--image-size", "64", "--k", "4")
    assert code == 0
    assert f"incremental: {len(before)} reused, 0 new, 0 changed, 0 retried, 0 removed" in out
    manifest = json.loads((previous_run / "manifest.json").read_text())
    assert manifest["featurize_counters"]["arrow_batches"] == 0  # the CNN saw no photo
    after = features_by_path(previous_run)
    assert {path: vector.tobytes() for path, vector in after.items()} == {
        path: vector.tobytes() for path, vector in before.items()}
    # Nothing changed or removed: the previous Parquet files are taken as they are (same names, same bytes),
    # not decoded and written again by a Spark job.
    files_after = part_files(previous_run / "features")
    assert files_before and files_after.items() >= files_before.items()


def _delete_features(output):
    shutil.rmtree(output / "features")


def _delete_manifest(output):
    (output / "manifest.json").unlink()


def _pre_incremental_run(output):
    shutil.rmtree(output / "listing")


def _foreign_manifest(output):
    (output / ".manifest.json.crc").unlink(missing_ok=True)  # Hadoop's checksum of the file replaced here
    (output / "manifest.json").write_text('{"manifest_version": 1, "status": "succeeded"}')


@pytest.mark.parametrize(
    "spoil, overrides, reason",
    [
        (None, {"image_size": 32}, "another image size (64 then, 32 now)"),
        (None, {"feature_layer": "bottleneck"}, "another feature layer (top then, bottleneck now)"),
        (None, {"weights": "random:1"}, "other weights"),
        (None, {"engine": "keras"}, "another engine (litert then, keras now)"),
        (None, {"max_bytes": 10_000_000}, "another --max-bytes"),
        (_delete_features, {}, "features/ is missing (deleted by hand?)"),
        (_delete_manifest, {}, "no finished run (no manifest.json)"),
        (_foreign_manifest, {}, "manifest_version"),
        (_pre_incremental_run, {}, "listing/ is missing"),
    ],
    ids=["image-size", "feature-layer", "weights", "engine", "limits", "features-deleted", "no-manifest", "old-manifest", "no-listing"],
)
def test_why_nothing_can_be_reused(spark, synthetic_photos, previous_run, spoil, overrides, reason):
    from fruits.config import RunConfig
    from fruits.model import WeightsSpec, load_weights
    from fruits.spark.hadoop_fs import HadoopFS
    from fruits.spark.incremental import check_weights, find_previous

    if spoil:
        spoil(previous_run)
    config = RunConfig(inputs=(str(synthetic_photos),), output=str(previous_run), incremental="on",
                       **{**FAST, **overrides})
    previous, why = find_previous(HadoopFS(spark), f"file://{previous_run}", config)
    if previous is not None:
        why = check_weights(previous, load_weights(WeightsSpec.parse(config.weights), config.image_size).sha256)
    assert reason in why and "\n" not in why


def test_strict_refuses_with_exit_2_and_leaves_the_previous_run(spark, synthetic_photos, previous_run, tmp_path,
                                                              capsys):
    manifest_before = (previous_run / "manifest.json").read_bytes()
    code, _, err = run_cli(capsys, "run", str(synthetic_photos), str(previous_run), "--incremental=strict",
                           "--weights", "random:0", "--image-size", "32", "--k", "4")
    assert code == 2
    assert "--incremental=strict" in err and "another image size (64 then, 32 now)" in err
    assert (previous_run / "manifest.json").read_bytes() == manifest_before
    with pytest.raises(NotReusableError, match="no finished run"):
        run_fixture_pipeline(spark, synthetic_photos, tmp_path / "empty", incremental="strict", **FAST)


def test_after_a_swap_cut_short_readers_refuse_and_the_next_run_is_full(spark, synthetic_photos, previous_run):
    """What `commit` leaves when killed half-way through the swap (the state made by hand: a real kill inside a
    few milliseconds of renames cannot be aimed at): no manifest, features/ swapped, pca/ deleted and still
    staged, the rest staged. Readers refuse the folder; the next --incremental run is a full run that says why
    (once, on the stage lines, and in the manifest) and removes the staging folder.

    Every reason to reuse nothing takes the same way through run_pipeline, the one checked here: what find_previous
    says for each is test_why_nothing_can_be_reused (features/ deleted by hand included, which had a full run of
    its own here)."""
    from fruits.config import RunConfig
    from fruits.errors import RunOutputError
    from fruits.run_output.reader import open_run_output
    from fruits.spark.job import run_pipeline

    staging = previous_run / "_incremental"
    staging.mkdir()
    for name in ("pca_csv", "errors", "pca_model", "listing", "classifier"):
        shutil.copytree(previous_run / name, staging / name)
    shutil.move(previous_run / "pca", staging / "pca")
    _delete_manifest(previous_run)
    (previous_run / ".manifest.json.crc").unlink(missing_ok=True)
    with pytest.raises(RunOutputError, match="no manifest.json"):
        open_run_output(str(previous_run))

    said = []
    config = RunConfig(inputs=(str(synthetic_photos),), output=str(previous_run), incremental="on", **FAST)
    manifest = run_pipeline(config, spark, on_stage=said.append)
    assert manifest.incremental.mode == "full"
    assert "no finished run (no manifest.json)" in manifest.incremental.reason
    assert manifest.incremental.new == manifest.n_input and manifest.incremental.reused == 0
    lines = [line for line in said if "nothing reused" in line]
    assert len(lines) == 1 and "no finished run (no manifest.json)" in lines[0]
    assert not staging.exists()
    assert len(open_run_output(str(previous_run)).images) == manifest.n_features == manifest.n_input


@pytest.mark.slow
def test_a_kill_during_an_incremental_run_leaves_the_previous_run_readable(spark, synthetic_photos, shared_weights,
                                                                          tmp_path):
    """SIGKILL while the new photos are being featurized: the previous run is whole, manifest included, and the
    next --incremental run succeeds. A weights file, not random weights: the killed `fruits` process then loads no
    TensorFlow on the driver (its digest and LiteRT conversion cached by the first run)."""
    import signal
    import subprocess
    import sys
    import time

    from fruits.run_output.reader import open_run_output
    from fruits.sample import generate_sample

    photos = tmp_path / "photos"
    shutil.copytree(synthetic_photos, photos)
    output = tmp_path / "out"
    fast = {**FAST, "weights": str(shared_weights)}
    run_fixture_pipeline(spark, photos, output, **fast)
    manifest_before = (output / "manifest.json").read_bytes()
    features_before = features_by_path(output)
    generate_sample(str(photos / "arrived"), n_per_class=60, test_fraction=0.25, seed=11)  # 300 new photos

    command = [sys.executable, "-m", "fruits", "run", str(photos), str(output), "--incremental",
               "--weights", fast["weights"], "--image-size", "64", "--k", "4", "--master", "local[2]"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    staged_features = output / "_incremental" / "features"
    try:
        deadline = time.monotonic() + 240
        while not staged_features.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before its features were being written"
        assert staged_features.exists(), "the run never started featurizing"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the run, its JVM and its Python workers: one session
        process.wait()

    assert (output / "manifest.json").read_bytes() == manifest_before
    after = features_by_path(output)
    assert {p: v.tobytes() for p, v in after.items()} == {p: v.tobytes() for p, v in features_before.items()}
    assert len(open_run_output(str(output)).images) == len(features_before)

    manifest = run_fixture_pipeline(spark, photos, output, incremental="on", **fast)
    assert (manifest.incremental.new, manifest.incremental.reused) == (300, len(features_before))
    assert not (output / "_incremental").exists()


@pytest.fixture(scope="module")
def before_arrivals(spark, synthetic_photos, tmp_path_factory):
    """A finished run on a copy of the synthetic photos, then three photos arrive in that folder (copies under new
    names). Each test copies the run's OUTPUT: the photos' paths stay those the run listed."""
    root = tmp_path_factory.mktemp("arrivals")
    photos, output = root / "photos", root / "out"
    shutil.copytree(synthetic_photos, photos)
    run_fixture_pipeline(spark, photos, output, **FAST)
    for i, source in enumerate(sorted(photos.rglob("*.jpg"))[:3]):
        shutil.copy(source, source.with_name(f"arrived-{i}.jpg"))
    return photos, output


def numpy_moments(output):
    """(count, mean, centred scatter) of every row of features/, computed here with numpy."""
    x = np.stack(list(features_by_path(output).values())).astype(np.float64)
    centred = x - x.mean(axis=0)
    return len(x), x.mean(axis=0), centred.T @ centred


def _moments_of_other_rows(output):
    """The moments file replaced by one that counts a row more than the previous features/ holds."""
    from fruits.spark.pca import MOMENTS_FILE, moments_bytes, moments_from_bytes

    path = output / "features" / MOMENTS_FILE
    count, mean, scatter = moments_from_bytes(path.read_bytes(), 1280)
    path.write_bytes(moments_bytes((count + 1, mean, scatter)))


def _moments_of_another_shape(output):
    from fruits.spark.pca import MOMENTS_FILE, moments_bytes

    (output / "features" / MOMENTS_FILE).write_bytes(moments_bytes((40, np.zeros(3), np.eye(3))))


@pytest.mark.parametrize("spoil, kept, on_driver", [(None, True, True), (None, True, False),
                                                    (_moments_of_other_rows, False, True),
                                                    (_moments_of_another_shape, False, True)],
                         ids=["kept", "kept-by-the-executors", "other-rows", "other-shape"])
def test_when_photos_only_arrive_the_pca_comes_from_the_kept_moments(spark, before_arrivals, tmp_path, caplog,
                                                                     monkeypatch, spoil, kept, on_driver):
    """Nothing changed or removed: the PCA is refitted from the previous run's moments merged with the new photos'
    (no previous row read again; the new rows' moments taken on the driver, or by the executors when the new rows
    are too many for it), and they are the moments of every row of the new features/, as a full run computes them.
    Moments that do not match the previous features/ are not trusted: every row is read."""
    from fruits.spark import driver_pca
    from fruits.spark.pca import MOMENTS_FILE, fit_pca, moments_from_bytes

    if not on_driver:
        monkeypatch.setattr(driver_pca, "DRIVER_PCA_MAX_PHOTOS", 0)
    photos, output = before_arrivals[0], tmp_path / "out"
    shutil.copytree(before_arrivals[1], output)
    if spoil:
        spoil(output)
    with caplog.at_level("INFO", logger="fruits"):
        manifest = run_fixture_pipeline(spark, photos, output, incremental="on", **FAST)

    reuse = manifest.incremental
    assert (reuse.new, reuse.changed, reuse.removed) == (3, 0, 0)
    assert ("PCA refitted from the previous run's moments" in caplog.text) == kept
    written = moments_from_bytes((output / "features" / MOMENTS_FILE).read_bytes(), 1280)
    expected = numpy_moments(output)
    assert written[0] == expected[0] == manifest.n_features
    np.testing.assert_allclose(written[1], expected[1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(written[2], expected[2], rtol=1e-6, atol=1e-6 * np.abs(expected[2]).max())
    # The PCA written is the one these moments give (the full run's fit).
    fitted = fit_pca(None, 1280, 0.95, k=FAST["k"], moments=expected).projection
    np.testing.assert_allclose(manifest.cumulative_variance, fitted.cumulative_variance, rtol=1e-6)
