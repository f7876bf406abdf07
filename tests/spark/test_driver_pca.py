"""pca/ and pca_csv/ written from the driver (fruits.spark.driver_pca) against the executors' path: the same
rows, the same photos per label; bad features/ refused; the size of the run chooses the path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fruits.errors import PipelineError
from fruits.spark import driver_pca
from fruits.spark.pca import fit_pca
from fruits.spark.steps import write_pca_outputs
from tests.conftest import run_fixture_pipeline

DIM = 24
SCHEMA = "path string, label string, split string, features array<float>"


@pytest.fixture(scope="module")
def features(spark, tmp_path_factory):
    """features/ of 40 rows far from the origin, labels with a missing one, paths a CSV must quote: the DataFrame
    and the folder it was written to."""
    rng = np.random.default_rng(5)
    n = 40
    x = (rng.uniform(5.0, 50.0, size=DIM) + rng.normal(size=(n, DIM)) * np.linspace(6.0, 0.5, DIM)).astype(np.float32)
    labels = [None if i == 3 else ("apple" if i % 3 else "pear, Williams") for i in range(n)]
    paths = [f'file:/photos/{"a,b" if i % 5 == 0 else "c"}/"{i:03d}".jpg' for i in range(n)]
    splits = [None if i % 7 == 0 else ("Training" if i % 2 else "Test") for i in range(n)]
    frame = pd.DataFrame({"path": paths, "label": labels, "split": splits, "features": [row.tolist() for row in x]})
    uri = f"file://{tmp_path_factory.mktemp('features') / 'features'}"
    spark.createDataFrame(frame, SCHEMA).repartition(3).write.parquet(uri)
    return spark.read.schema(SCHEMA).parquet(uri), uri


def uris_under(root) -> dict[str, str]:
    return {name: f"file://{root / name}" for name in ("features", "pca", "pca_csv", "errors", "pca_model")}


def sorted_rows(frame, columns):
    return sorted((tuple(row[c] for c in columns) for row in frame.collect()), key=lambda row: row[0])


@pytest.mark.parametrize("read_by", ["pyarrow", "spark"])
def test_the_driver_writes_what_the_executors_write(spark, features, tmp_path, monkeypatch, read_by):
    """features/ read on the driver by pyarrow (a local OUTPUT) or collected from Spark (any other)."""
    features, uri = features
    monkeypatch.setattr(driver_pca, "PART_ROWS", 16)  # three part files of each output
    if read_by == "spark":
        monkeypatch.setattr(driver_pca, "is_local", lambda uri: False)
    matrix = driver_pca.collect_features(spark, uri, DIM)
    assert len(matrix) == 40 and matrix.features.dtype == np.float32
    projection = fit_pca(features, DIM, 0.95, k=5).projection

    on_executors, on_driver = uris_under(tmp_path / "executors"), uris_under(tmp_path / "driver")
    labels = write_pca_outputs(spark, features, projection, on_executors)
    labels_driver, coordinates = driver_pca.write_pca_outputs(spark, matrix, projection, on_driver)
    assert labels_driver == labels == {None: 1, "apple": 26, "pear, Williams": 13}
    assert sorted(p.name for p in (tmp_path / "driver" / "pca").iterdir()) == [
        "_SUCCESS", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]

    pca = [spark.read.parquet(uris["pca"]) for uris in (on_executors, on_driver)]
    assert pca[0].schema == pca[1].schema
    theirs, ours = (sorted_rows(frame, ["path", "label", "split", "pca"]) for frame in pca)
    assert [row[:3] for row in ours] == [row[:3] for row in theirs]
    np.testing.assert_allclose([row[3] for row in ours], [row[3] for row in theirs], rtol=1e-6, atol=1e-5)
    by_path = dict(zip(coordinates.path, coordinates.pca))
    np.testing.assert_array_equal([by_path[row[0]] for row in ours], np.asarray([row[3] for row in ours], np.float32))

    # RFC 4180 both ways: a quote inside a quoted field is doubled (what pandas and spreadsheets read).
    csv = [spark.read.option("header", "true").option("escape", '"').csv(uris["pca_csv"]) for uris in (on_executors,
                                                                                                          on_driver)]
    assert '"file:/photos/a,b/""000"".jpg"' in (tmp_path / "executors" / "pca_csv").joinpath(
        next(p.name for p in (tmp_path / "executors" / "pca_csv").iterdir() if p.name.endswith(".csv")
             and "000" in p.read_text())).read_text()
    assert csv[0].columns == csv[1].columns == ["path", "label", "split"] + [f"pc_{i}" for i in range(1, 6)]
    theirs, ours = (sorted_rows(frame, frame.columns) for frame in csv)
    assert [row[:3] for row in ours] == [row[:3] for row in theirs]
    np.testing.assert_allclose(np.asarray([row[3:] for row in ours], float), np.asarray([row[3:] for row in theirs],
                                                                                         float), rtol=1e-6)


@pytest.mark.parametrize("bad", [[1.0] * (DIM - 1), None, []], ids=["short", "null", "empty"])
def test_features_of_another_width_are_refused(spark, tmp_path, bad):
    rows = [("file:/a.jpg", "apple", "Training", [0.5] * DIM), ("file:/b.jpg", "apple", "Training", bad)]
    spark.createDataFrame(rows, SCHEMA).write.parquet(str(tmp_path / "features"))
    with pytest.raises(PipelineError, match=f"not {DIM} numbers"):
        driver_pca.collect_features(spark, f"file://{tmp_path / 'features'}", DIM)


def test_the_size_of_the_run_chooses_where_the_pca_is_made(spark, synthetic_photos, synthetic_run, tmp_path,
                                                         monkeypatch):
    """synthetic_run's pca/ was written from the driver (its 40 photos are well under the limit); the same run with
    a limit of 0 photos writes it from the executors: the same PCA, pca/ and classifier."""
    monkeypatch.setattr(driver_pca, "DRIVER_PCA_MAX_PHOTOS", 0)
    output = tmp_path / "executors"
    run_fixture_pipeline(spark, synthetic_photos, output, weights="random:3", image_size=96, k=8)

    assert (synthetic_run / "pca" / "part-00000.parquet").exists()  # written by pyarrow on the driver
    assert not (output / "pca" / "part-00000.parquet").exists()  # Spark names its part files part-00000-<uuid>...
    driver, executors = (json.loads((out / "manifest.json").read_text()) for out in (synthetic_run, output))
    assert driver["labels"] == executors["labels"]
    np.testing.assert_allclose(driver["cumulative_variance"], executors["cumulative_variance"], rtol=1e-9)
    theirs, ours = (pd.read_parquet(out / "pca").sort_values("path").reset_index(drop=True)
                    for out in (output, synthetic_run))
    assert ours["path"].tolist() == theirs["path"].tolist()
    np.testing.assert_allclose(np.stack(ours["pca"]), np.stack(theirs["pca"]), rtol=1e-5, atol=1e-5)
    models = [json.loads((out / "classifier" / "model.json").read_text()) for out in (synthetic_run, output)]
    assert models[0]["classes"] == models[1]["classes"]
    np.testing.assert_allclose(models[0]["coefficients"], models[1]["coefficients"], rtol=1e-6, atol=1e-6)
