"""The dashboard's catalog at scale: start-up work that does not grow with the square of the photos, predictions
from the run's linear classifier, neighbours searched when a page asks for them."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fruits.classify import SCALE_SAMPLE, LinearModel
from fruits.neighbours import NeighbourIndex
from fruits.outputs import CLASSIFIER_FILE, ClassifierInfo, InputCounts, Limits, Manifest, WeightsInfo
from fruits.run_output import open_run_output
from fruits.web import Settings
from fruits.web.catalog import Catalog, stratified_sample

CLASSES = ("Apple Red 1", "Banana", "Lemon", "Mango", "Pear", "Raspberry")


def write_scale_run(output: Path, n: int, k: int = 12, classifier: bool = True, seed: int = 0) -> Path:
    """A run OUTPUT of n photos with clustered synthetic coordinates (one photo in ten in Test) and, when asked,
    a linear classifier fitted on its Training photos. The photos themselves are never read here."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4.0, (len(CLASSES), k))
    which = np.arange(n) % len(CLASSES)
    coords = (centres[which] + rng.normal(0, 1.5, (n, k))).astype(np.float32)
    splits = np.where(np.arange(n) % 10 == 0, "Test", "Training")
    labels = [CLASSES[c] for c in which]
    table = pa.table({"path": [f"file:/nowhere/{s}/{label}/{i:06d}.jpg" for i, (s, label) in
                               enumerate(zip(splits, labels))],
                      "label": labels, "split": splits.tolist(),
                      "pca": pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32)),
                                                      pa.array(coords.ravel()))})
    (output / "pca").mkdir(parents=True)
    pq.write_table(table, output / "pca" / "part-00000.parquet")
    dim = 1280
    ratios = np.sort(rng.uniform(0.01, 0.05, k))[::-1]
    projection = {"k": k, "dim": dim, "mean": [0.0] * dim,
                  "components": np.linalg.qr(rng.normal(size=(dim, k)))[0].T.tolist(),
                  "explained_variance_ratio": ratios.tolist()}
    (output / "pca_model").mkdir()
    pq.write_table(pa.Table.from_pylist([projection]), output / "pca_model" / "part-00000.parquet")
    about = None
    if classifier:
        training = splits == "Training"
        model = LinearModel.fit_numpy(coords[training].astype(np.float64), np.asarray(labels)[training],
                                      iterations=60)
        (output / "classifier").mkdir()
        (output / CLASSIFIER_FILE).write_text(json.dumps(model.to_dict()))
        about = ClassifierInfo(file=CLASSIFIER_FILE, labels=len(CLASSES), fitted_by="numpy (test)",
                               regularisation=1e-3, max_iterations=60, iterations=60,
                               n_references=int(training.sum()), seconds=0.0)
    counts = {c: int(np.sum(which == i)) for i, c in enumerate(CLASSES)}
    manifest = Manifest(
        inputs=(InputCounts("file:/nowhere", n, n, 0),), output=f"file:{output}", n_input=n, n_features=n,
        n_errors=0, labels=counts, k=k, k_source="k", variance_target=None, cumulative_variance=float(ratios.sum()),
        feature_dim=dim, image_size=96, engine="litert", batch_size=2,
        limits=Limits(max_bytes=50 * 1024**2, max_pixels=40_000_000),
        weights=WeightsInfo(spec="random:3", source="random:3", sha256="0" * 64),
        master="local[2]", started_at="2026-12-01T10:00:00+00:00", finished_at="2026-12-01T10:00:00+00:00",
        timings_s={"total": 0.0}, classifier=about)
    (output / "manifest.json").write_text(manifest.to_json())
    return output


@pytest.fixture()
def searched(monkeypatch) -> list[int]:
    """How many query rows the neighbour index was asked about (the real search runs)."""
    calls: list[int] = []
    search = NeighbourIndex.search

    def counting(self, queries, k):
        calls.append(len(np.atleast_2d(queries)))
        return search(self, queries, k)

    monkeypatch.setattr(NeighbourIndex, "search", counting)
    return calls


def _catalog(output: Path) -> Catalog:
    return Catalog(open_run_output(str(output)), Settings(output=str(output), warm_up=False).validated())


@pytest.mark.parametrize("n", [3_000, 12_000])
def test_start_up_searches_a_bounded_sample_whatever_the_number_of_photos(tmp_path, searched, n):
    """Start-up measures the scale of the space on SCALE_SAMPLE references; no photo's neighbours are searched
    until a page asks, and then only that photo's."""
    catalog = _catalog(write_scale_run(tmp_path / "out", n))
    assert catalog.assessment.classifier == "logistic"
    assert sum(searched) == SCALE_SAMPLE
    row = int(np.nonzero(catalog.run.images.splits == "Test")[0][3])
    summary = catalog.summary(row)
    assert sum(searched) == SCALE_SAMPLE + 1 and summary["neighbours_considered"] == catalog.k
    catalog.summaries(range(40))
    assert sum(searched) == SCALE_SAMPLE + 1 + 39  # row 3 of Test is row 30: already known


def test_start_up_holds_no_array_of_photos_by_photos(tmp_path):
    """A catalog of 8,000 photos: the memory numpy allocates while it is built stays a small fraction of one
    byte per pair of photos (an 8,000 x 8,000 boolean matrix alone would be 64 MB)."""
    n = 8_000
    output = write_scale_run(tmp_path / "out", n)
    run = open_run_output(str(output))
    settings = Settings(output=str(output), warm_up=False).validated()
    tracemalloc.start()
    try:
        catalog = Catalog(run, settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(catalog.assessment.predicted) == n
    assert peak < n * n / 8, f"{peak / 1e6:.1f} MB"


def test_predictions_are_the_run_classifier_and_the_evaluation_is_on_test(tmp_path):
    output = write_scale_run(tmp_path / "out", 3_000)
    catalog = _catalog(output)
    images = catalog.run.images
    model = LinearModel.from_dict(json.loads((output / CLASSIFIER_FILE).read_text()))
    probabilities = model.probabilities(images.coords)
    assert list(catalog.assessment.predicted) == [model.classes[c] for c in probabilities.argmax(axis=1)]
    np.testing.assert_allclose(catalog.assessment.score, probabilities.max(axis=1))
    test = images.splits == "Test"
    evaluation = catalog.evaluation
    assert evaluation.method == "test split" and evaluation.classifier == "logistic" and evaluation.n == test.sum()
    assert evaluation.n_correct == int(np.sum(catalog.assessment.predicted[test] == images.labels[test]))
    assert catalog.run_summary()["classifier"] == "logistic"


def test_a_run_without_classifier_is_classified_by_the_knn(tmp_path):
    catalog = _catalog(write_scale_run(tmp_path / "out", 600, classifier=False))
    assert catalog.assessment.classifier == "knn" and catalog.evaluation.classifier == "knn"
    # Every photo was classified at start-up: a reference by the others.
    reference = int(catalog.assessment.reference_rows[0])
    neighbours = [r for r, _ in catalog.neighbours(reference)]
    assert reference not in neighbours and len(neighbours) == catalog.settings.gallery_size


def test_concurrent_pages_get_the_neighbours_a_page_alone_gets(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    output = write_scale_run(tmp_path / "out", 2_000)
    alone = _catalog(output)
    rows = list(range(0, 2_000, 37))
    expected = [alone.neighbours(r) for r in rows]
    shared = _catalog(output)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(shared.neighbours, rows * 3))
    assert found == expected * 3


def test_the_measure_sample_is_spread_over_the_labels_and_fixed():
    labels = np.asarray(["a"] * 9_000 + ["b"] * 900 + ["c"] * 100, dtype=object)
    sample = stratified_sample(labels, 300)
    assert len(sample) == 300 and np.all(np.diff(sample) > 0)
    counts = {name: int(np.sum(labels[sample] == name)) for name in "abc"}
    assert counts == {"a": 100, "b": 100, "c": 100}
    np.testing.assert_array_equal(sample, stratified_sample(labels, 300))
    np.testing.assert_array_equal(stratified_sample(labels[:50], 300), np.arange(50))
