"""Integration on the real Fruits-360 sample with the shared pretrained weights (see ../shared/README.md)."""

import json

import pandas as pd
import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.slow


def test_every_shared_photo_is_featurized(shared_run):
    manifest = json.loads((shared_run / "manifest.json").read_text())
    assert (manifest["n_input"], manifest["n_features"], manifest["n_errors"]) == (2624, 2624, 0)
    assert manifest["labels"] == {"apple": 656, "lemon": 656, "mango": 656, "raspberry": 656}
    assert manifest["weights"]["file_sha256"] == "b5c304ecf01494f614fd05d36a075cb14f45d054af9af5ef17092bbf870e8e2f"
    assert 0.95 <= manifest["cumulative_variance"] < 1 and 1 <= manifest["k"] < 1280
    assert manifest["featurize_counters"]["model_builds"] <= 2


def test_outputs_are_readable_by_pandas_and_pyarrow(shared_run):
    manifest = json.loads((shared_run / "manifest.json").read_text())
    features = ds.dataset(shared_run / "features", format="parquet").to_table()
    assert features.num_rows == 2624 and features.schema.field("features").type.value_type.bit_width == 32
    pca = pd.read_parquet(shared_run / "pca")
    assert len(pca) == 2624 and set(pca["split"]) == {"Training", "Test"}
    assert pca.groupby("split").size().to_dict() == {"Test": 662, "Training": 1962}
    csv = ds.dataset(shared_run / "pca_csv", format="csv").to_table().to_pandas()
    assert len(csv) == 2624 and csv.shape[1] == 3 + manifest["k"]
    assert pd.read_parquet(shared_run / "errors").empty
