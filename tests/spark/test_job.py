"""`fruits run` end to end on the shared Spark session: bad inputs, output guards, accounting, manifest."""

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fruits.errors import InputNotFoundError, NoImagesError, OutputError, WeightsError
from fruits.outputs import parse_manifest
from tests import bad_images
from tests.conftest import run_fixture_pipeline

FAST = {"weights": "random:3", "image_size": 64, "k": 4}


@pytest.fixture(scope="module")
def awkward_photos(tmp_path_factory, synthetic_photos):
    """A folder of real-life awkwardness: broken files, odd modes, a bomb, spaces and accents in names."""
    root = tmp_path_factory.mktemp("awkward") / "photos"
    good = root / "Training" / "Pomme Rouge é"
    bad = root / "Test" / "Cas étranges"
    good.mkdir(parents=True)
    bad.mkdir(parents=True)
    for i, photo in enumerate(sorted((synthetic_photos / "Training" / "apple").glob("*.jpg"))[:4]):
        shutil.copy(photo, good / f"pomme {i} à croquer.JPG")
    for name, (build, _) in bad_images.CASES.items():
        (bad / name).write_bytes(build())
    (bad / "notes.txt").write_text("not a photo and not named like one: never read")
    return root


@pytest.fixture(scope="module")
def awkward_run(spark, awkward_photos, tmp_path_factory):
    output = tmp_path_factory.mktemp("awkward-run") / "out"
    manifest = run_fixture_pipeline(spark, awkward_photos, output, **FAST)
    return output, manifest


def test_awkward_files_do_not_stop_the_job_and_every_file_is_accounted_for(awkward_run):
    output, manifest = awkward_run
    n_bad = sum(1 for _, ok in bad_images.CASES.values() if not ok)
    n_ok = 4 + sum(1 for _, ok in bad_images.CASES.values() if ok)
    assert manifest.n_input == n_ok + n_bad  # notes.txt is not an image file
    assert (manifest.n_features, manifest.n_errors) == (n_ok, n_bad)
    errors = pd.read_parquet(output / "errors")
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in zip(errors["path"], errors["reason"])}
    # The empty file is never yielded by Spark's scan: counted per INPUT, one row whose path is the INPUT.
    assert set(reasons) == {name for name, (_, ok) in bad_images.CASES.items() if not ok} - {"empty.jpg"} | {"photos"}
    assert "decompression bomb" in reasons["bomb.png"] and "1 image file(s)" in reasons["photos"]
    assert "empty (0 bytes)" in reasons["photos"] and manifest.inputs[0].n_skipped == 1
    assert all("\n" not in reason for reason in reasons.values())
    features = pd.read_parquet(output / "features")
    assert features["features"].map(len).eq(1280).all()
    names = set(features["path"].str.rsplit("/", n=1).str[1])
    assert "pomme 0 à croquer.JPG" in names and "sixteen bit.png" in names
    labels = dict(zip(features["path"].str.rsplit("/", n=1).str[1], features["label"]))
    assert labels["pomme 0 à croquer.JPG"] == "Pomme Rouge é"
    assert set(features["split"]) == {"Training", "Test"}


def test_outputs_have_the_promised_schemas(awkward_run):
    output, manifest = awkward_run
    k = manifest.k
    assert pq.read_schema(next((output / "features").glob("*.parquet"))).names == ["path", "label", "split", "features"]
    pca = pd.read_parquet(output / "pca")
    assert list(pca.columns) == ["path", "label", "split", "pca"] and pca["pca"].map(len).eq(k).all()
    csv = pd.concat(pd.read_csv(part) for part in (output / "pca_csv").glob("part-*.csv"))
    assert list(csv.columns) == ["path", "label", "split"] + [f"pc_{i}" for i in range(1, k + 1)]
    assert len(csv) == manifest.n_features
    model = pd.read_parquet(output / "pca_model")
    assert model["k"][0] == k and len(model["mean"][0]) == 1280 and len(model["explained_variance_ratio"][0]) == 1280
    on_disk = json.loads((output / "manifest.json").read_text())
    assert on_disk == manifest.to_dict() and parse_manifest((output / "manifest.json").read_text()) == manifest
    assert on_disk["n_input"] == on_disk["n_features"] + on_disk["n_errors"]
    assert set(on_disk["timings_s"]) >= {"featurize", "pca", "write"}
    assert len(on_disk["weights"]["sha256"]) == 64 and on_disk["versions"]["spark"]


@pytest.fixture
def previous_run(synthetic_run, tmp_path):
    """OUTPUT holding a finished run: a copy of the session's synthetic run (k=8), rather than a run of its own
    (each run on the shared session costs seconds of Spark jobs, and this module runs again in `make test-spark35`)."""
    output = tmp_path / "out"
    shutil.copytree(synthetic_run, output)
    return output


def test_rerun_replaces_the_outputs(spark, synthetic_photos, previous_run):
    first = parse_manifest((previous_run / "manifest.json").read_text())
    second = run_fixture_pipeline(spark, synthetic_photos, previous_run, **{**FAST, "k": 2})
    assert (first.k, second.k) == (8, 2)
    assert pd.read_parquet(previous_run / "pca")["pca"].map(len).eq(2).all()


def test_foreign_non_empty_output_is_refused_unless_overwrite(spark, synthetic_photos, tmp_path):
    output = tmp_path / "precious"
    output.mkdir()
    (output / "thesis.docx").write_text("someone's work")
    with pytest.raises(OutputError, match="--overwrite"):
        run_fixture_pipeline(spark, synthetic_photos, output, **FAST)
    run_fixture_pipeline(spark, synthetic_photos, output, overwrite=True, **FAST)
    assert (output / "manifest.json").exists() and (output / "thesis.docx").exists()


def test_a_failed_rerun_leaves_no_manifest_claiming_success(spark, synthetic_photos, previous_run, tmp_path):
    output = previous_run
    assert (output / "manifest.json").exists()
    broken = tmp_path / "broken" / "Training" / "x"
    broken.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.png"):
        (broken / name).write_bytes(b"garbage")
    with pytest.raises(NoImagesError, match="only 0 of 3"):
        run_fixture_pipeline(spark, tmp_path / "broken", output, **FAST)
    assert not (output / "manifest.json").exists()
    # ... and the folder is still recognised as ours: a fixed re-run needs no --overwrite
    run_fixture_pipeline(spark, synthetic_photos, output, **FAST)
    assert (output / "manifest.json").exists()


@pytest.mark.parametrize(
    "make_input, make_output, overrides, error, message",
    [
        (lambda tmp: tmp / "nowhere", lambda tmp: tmp / "o", {}, InputNotFoundError, "INPUT not found"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", lambda tmp: tmp / "o", {}, NoImagesError,
         "no .jpg, .jpeg or .png"),
        (None, lambda tmp: (tmp / "f").write_text("x") and tmp / "f" / "out", {}, OutputError, "cannot write"),
        (None, lambda tmp: (tmp / "f").write_text("x") and tmp / "f", {}, OutputError, "is a file"),
        (None, lambda tmp: tmp / "o", {"weights": "/nonexistent/w.weights.h5"}, WeightsError, "not found"),
    ],
    ids=["missing-input", "no-images", "unwritable-output", "output-is-a-file", "missing-weights"],
)
def test_user_errors_are_typed(spark, synthetic_photos, tmp_path, make_input, make_output, overrides, error,
                               message):
    source = make_input(tmp_path) if make_input else synthetic_photos
    with pytest.raises(error, match=message):
        run_fixture_pipeline(spark, source, make_output(tmp_path), **{**FAST, **overrides})
