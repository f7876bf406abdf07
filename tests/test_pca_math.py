import numpy as np
import pytest

from fruits.errors import UsageError
from fruits.pca_math import Projection, choose_k, validate_k, validate_variance


@pytest.mark.parametrize(
    "ratios, target, k",
    [
        ([0.5, 0.3, 0.15, 0.05], 0.5, 1),
        ([0.5, 0.3, 0.15, 0.05], 0.8, 2),
        ([0.5, 0.3, 0.15, 0.05], 0.81, 3),
        ([0.5, 0.3, 0.15, 0.05], 0.95, 3),
        ([0.5, 0.3, 0.15, 0.05], 1.0, 4),
        ([0.95, 0.05], 0.95, 1),
        # float sums that land a hair below the target still reach it
        ([0.1] * 10, 0.3, 3),
        # a rank-deficient spectrum (fewer images than dimensions): 1.0 is reached at the last non-zero
        ([0.6, 0.4, 0.0, 0.0], 1.0, 2),
    ],
)
def test_choose_k_is_the_smallest_reaching_the_target(ratios, target, k):
    assert choose_k(ratios, target) == k
    cumulative = np.cumsum(ratios)
    assert cumulative[k - 1] >= target - 1e-9
    if k > 1:
        assert cumulative[k - 2] < target - 1e-9


@pytest.mark.parametrize("bad", [0, -0.1, 1.01, 2, float("nan"), "0.9"])
def test_bad_variance_targets_are_refused(bad):
    with pytest.raises(UsageError, match="--variance"):
        validate_variance(bad)


@pytest.mark.parametrize("bad", [0, -1, 1281, 2.5])
def test_bad_k_is_refused(bad):
    with pytest.raises(UsageError, match="--k"):
        validate_k(bad, 1280)


def test_projection_centres_then_projects_and_round_trips_through_a_record():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=6)
    components = np.linalg.qr(rng.normal(size=(6, 6)))[0][:, :3]
    ratios = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    projection = Projection(mean, components, ratios)
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(projection.project(x), (x - mean) @ components)
    np.testing.assert_allclose(projection.project(x[0]), ((x - mean) @ components)[0])
    again = Projection.from_record(projection.to_record())
    np.testing.assert_allclose(again.project(x), projection.project(x))
    assert again.k == 3 and again.cumulative_variance == pytest.approx(0.8)
    with pytest.raises(ValueError, match="expects 6"):
        projection.project(np.zeros(5))
