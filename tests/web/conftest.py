"""The dashboard apps the web tests share: one over the synthetic Spark run (5 classes), and one over a run
output at the scale of the 114-class Fruits-360 slice, written here without Spark or TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from fruits.outputs import InputCounts, Limits, Manifest, WeightsInfo
from fruits.web import Settings, create_app

from tests.conftest import SHARED, _require_shared

# Small enough that the tests can send a body over it without allocating much.
UPLOAD_LIMIT = 256 * 1024
SHARED_114 = SHARED / "data" / "fruits-360-114"


@pytest.fixture(scope="session")
def web_app(synthetic_run):
    # No background warm-up: the tests decide when the identify model is built.
    return create_app(Settings(output=str(synthetic_run), max_upload_bytes=UPLOAD_LIMIT, warm_up=False,
                               page_size=10))


@pytest.fixture(scope="session")
def client(web_app):
    with TestClient(web_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def catalog(web_app):
    return web_app.state.catalog


def write_layout_run(output: Path, photos_root: Path, training: int = 10, test: int = 3, k: int = 16,
                     seed: int = 0) -> dict:
    """A complete `fruits run` OUTPUT over real photos of every class folder of `photos_root` (a Fruits-360
    layout), whose PCA coordinates are synthetic: one cluster per kind of fruit, one sub-cluster per class, so
    varieties of a kind are confused with each other as in a real run. For layout tests: no Spark, no model."""
    from fruits.identify import FruitFacts

    facts = FruitFacts.load()
    classes = sorted(p.name for p in (photos_root / "Training").iterdir() if p.is_dir())
    rng = np.random.default_rng(seed)
    kind_centre: dict[str, np.ndarray] = {}
    rows = []
    for name in classes:
        kind = facts.kind_for(name) or name
        centre = kind_centre.setdefault(kind, rng.normal(0, 6.0, k))
        class_centre = centre + rng.normal(0, 1.0, k)
        for split, count in (("Training", training), ("Test", test)):
            files = sorted((photos_root / split / name).glob("*.jpg"))[:count]
            for file in files:
                rows.append({"path": f"file:{file.resolve()}", "label": name, "split": split,
                             "pca": (class_centre + rng.normal(0, 1.0, k)).tolist()})
    (output / "pca").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), output / "pca" / "part-00000.parquet")
    dim = 1280  # MobileNetV2's features: identify can project a new photo with this run's (random) weights
    ratios = np.sort(rng.uniform(0.01, 0.1, k))[::-1]
    projection = {"k": k, "dim": dim, "mean": [0.0] * dim,
                  "components": np.linalg.qr(rng.normal(size=(dim, k)))[0].T.tolist(),
                  "explained_variance_ratio": ratios.tolist()}
    (output / "pca_model").mkdir()
    pq.write_table(pa.Table.from_pylist([projection]), output / "pca_model" / "part-00000.parquet")
    labels: dict[str, int] = {}
    for row in rows:
        labels[row["label"]] = labels.get(row["label"], 0) + 1
    manifest = Manifest(
        inputs=(InputCounts(f"file:{photos_root.resolve()}", len(rows), len(rows), 0),), output=f"file:{output}",
        n_input=len(rows), n_features=len(rows), n_errors=0, labels=labels, k=k, k_source="variance",
        variance_target=0.95, cumulative_variance=float(ratios.sum()), feature_dim=dim, image_size=96,
        engine="litert", batch_size=2, limits=Limits(max_bytes=50 * 1024**2, max_pixels=40_000_000),
        weights=WeightsInfo(spec="random:3", source="random:3", sha256="0" * 64,
                            warning="synthetic coordinates, for layout tests"),
        master="local[2]", started_at="2026-12-01T10:00:00+00:00", finished_at="2026-12-01T10:00:00+00:00",
        timings_s={"total": 0.0})
    (output / "manifest.json").write_text(manifest.to_json())
    return {"classes": classes, "n": len(rows)}


@pytest.fixture(scope="session")
def run_114(tmp_path_factory) -> Path:
    """A run output at 114 classes (10 Training + 3 Test real photos each, synthetic coordinates)."""
    photos = _require_shared(SHARED_114)
    output = tmp_path_factory.mktemp("run-114") / "output"
    written = write_layout_run(output, photos)
    assert len(written["classes"]) >= 114
    return output


@pytest.fixture(scope="session")
def client_114(run_114):
    app = create_app(Settings(output=str(run_114), warm_up=False))
    with TestClient(app) as test_client:
        yield test_client
