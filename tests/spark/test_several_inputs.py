"""`fruits run INPUT INPUT OUTPUT`: several folders read as one set, each photo keeping its label and split,
every INPUT and its counts in the manifest."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from fruits.outputs import parse_manifest
from tests.conftest import run_fixture_pipeline

FAST = {"weights": "random:3", "image_size": 64, "k": 3}


def test_two_inputs_one_run(spark, synthetic_photos, tmp_path):
    studio = tmp_path / "studio"
    shutil.copytree(synthetic_photos, studio)
    shop = tmp_path / "shop photos"  # a space in the folder name
    (shop / "Test" / "Apple Royal Gala").mkdir(parents=True)
    for i, photo in enumerate(sorted((synthetic_photos / "Training" / "apple").glob("*.jpg"))[:3]):
        shutil.copy(photo, shop / "Test" / "Apple Royal Gala" / f"shelf {i}.jpg")
    (shop / "Test" / "Apple Royal Gala" / "broken.jpg").write_bytes(b"not a photo")
    output = tmp_path / "out"
    manifest = run_fixture_pipeline(spark, [studio, shop], output, **FAST)

    assert [(i.uri, i.n_input, i.n_features, i.n_errors) for i in manifest.inputs] == [
        (f"file://{studio}", 40, 40, 0), (f"file://{shop}", 4, 3, 1)]
    assert (manifest.n_input, manifest.n_features, manifest.n_errors) == (44, 43, 1)
    assert manifest.labels["Apple Royal Gala"] == 3
    on_disk = parse_manifest((output / "manifest.json").read_text())
    assert on_disk.inputs == manifest.inputs
    assert json.loads((output / "manifest.json").read_text())["inputs"][1]["uri"] == f"file://{shop}"
    features = pd.read_parquet(output / "features")
    shop_rows = features[features["path"].str.contains("shop photos")]
    assert set(shop_rows["label"]) == {"Apple Royal Gala"} and set(shop_rows["split"]) == {"Test"}
    studio_rows = features[features["path"].str.contains("/studio/")]
    assert len(studio_rows) == 40 and set(studio_rows["split"]) == {"Training", "Test"}
    assert features["path"].is_unique
    pca = pd.read_parquet(output / "pca")
    assert len(pca) == 43
