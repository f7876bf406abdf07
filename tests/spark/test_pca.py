"""Spark PCA equals scikit-learn's on the same features; k is the smallest reaching the target."""

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA as SkPCA

from fruits.model import FEATURE_DIM
from fruits.spark.pca import fit_pca, project


@pytest.fixture(scope="module")
def features(spark, synthetic_run):
    return spark.read.parquet(str(synthetic_run / "features")).orderBy("path")


def test_spectrum_and_projection_equal_scikit_learn(spark, features):
    fit = fit_pca(features, FEATURE_DIM, 0.95, k=8)
    rows = features.toPandas()
    x = np.stack(rows["features"].to_numpy()).astype(np.float64)
    reference = SkPCA(n_components=min(x.shape) - 1, svd_solver="full").fit(x)
    n = len(reference.explained_variance_ratio_)
    np.testing.assert_allclose(fit.projection.explained_variance_ratio[:n], reference.explained_variance_ratio_,
                               atol=1e-6)
    assert abs(fit.projection.explained_variance_ratio[n:]).max() < 1e-6  # rank n: the rest is zero
    projected, broadcast = project(features, fit.projection, spark)
    ours = np.stack(projected.orderBy("path").toPandas()["pca"].to_numpy())
    theirs = reference.transform(x)[:, :8]
    broadcast.destroy()
    for component in range(8):
        corr = np.corrcoef(ours[:, component], theirs[:, component])[0, 1]
        assert abs(corr) > 0.9999, f"component {component + 1}: |corr| = {abs(corr)}"


@pytest.mark.parametrize("target", [0.5, 0.8, 0.95, 0.99])
def test_k_is_the_smallest_reaching_the_variance_target(features, target):
    fit = fit_pca(features, FEATURE_DIM, target)
    cumulative = np.cumsum(fit.projection.explained_variance_ratio)
    k = fit.projection.k
    assert cumulative[k - 1] >= target - 1e-9
    assert k == 1 or cumulative[k - 2] < target
    assert fit.k_source == "variance"


def test_pca_output_equals_scikit_learn_transform_on_data_with_a_known_mean(spark, tmp_path):
    """pca/ as the job writes it, on random data far from the origin: equal to scikit-learn's
    `PCA.transform` up to the sign of each component (a correlation would ignore centring and scale), and
    centred (column means ~0)."""
    from fruits.spark.steps import write_pca_outputs

    rng = np.random.default_rng(11)
    n, dim, k = 300, 24, 6
    mean = rng.uniform(5.0, 50.0, size=dim)  # far from 0: forgetting to centre would show
    scales = np.linspace(6.0, 0.5, dim)  # distinct variances: well-separated components
    x = (mean + rng.normal(size=(n, dim)) * scales).astype(np.float32)
    frame = spark.createDataFrame(
        pd.DataFrame({"path": [f"p{i:04d}" for i in range(n)], "label": "a", "split": None,
                      "features": [row.tolist() for row in x]}),
        "path string, label string, split string, features array<float>")
    fit = fit_pca(frame, dim, 0.95, k=k)
    uris = {name: str(tmp_path / name) for name in ("features", "pca", "pca_csv", "errors", "pca_model")}
    write_pca_outputs(spark, frame, fit.projection, uris)
    ours = pd.read_parquet(uris["pca"]).sort_values("path")
    ours = np.stack(ours["pca"].to_numpy()).astype(np.float64)

    theirs = SkPCA(n_components=k, svd_solver="full").fit(x.astype(np.float64)).transform(x.astype(np.float64))
    signs = np.sign(np.sum(ours * theirs, axis=0))
    assert np.all(signs != 0)
    np.testing.assert_allclose(ours * signs, theirs, atol=2e-3)  # pca/ is float32: ~1e-6 relative
    np.testing.assert_allclose(ours.mean(axis=0), 0.0, atol=2e-3)
    np.testing.assert_allclose(fit.projection.mean, x.astype(np.float64).mean(axis=0), atol=1e-4)


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize("merge_on_driver", [False, True], ids=["tree", "driver"])
def test_moments_merged_across_partitions_equal_numpy(features, partitions, merge_on_driver):
    """Each partition's (count, mean, scatter) is merged, in a tree on the executors or on the driver: any split
    gives numpy's mean and covariance."""
    from fruits.spark.pca import feature_moments

    count, mean, scatter = feature_moments(features.repartition(partitions), FEATURE_DIM, merge_on_driver)
    x = np.stack(features.toPandas()["features"].to_numpy()).astype(np.float64)
    assert count == len(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(scatter / (count - 1), np.cov(x, rowvar=False), atol=1e-9)


@pytest.mark.parametrize("block", [1, 7, 16_384])
def test_moments_of_rows_on_the_driver_equal_numpy(block):
    """array_moments (the new rows of an incremental run, on the driver) in blocks of any size: numpy's count, mean
    and covariance, on float32 rows far from the origin."""
    from fruits.spark.pca import array_moments

    x = (np.random.default_rng(3).normal(size=(50, 6)) * 3.0 + 100.0).astype(np.float32)
    count, mean, scatter = array_moments(x, block)
    exact = x.astype(np.float64)
    assert count == 50
    np.testing.assert_allclose(mean, exact.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scatter / (count - 1), np.cov(exact, rowvar=False), rtol=1e-9, atol=1e-9)
