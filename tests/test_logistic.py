"""fruits.logistic: multinomial logistic regression on the driver, pyspark.ml's objective (tests/spark/
test_classifier.py fits the same rows with pyspark.ml and compares)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from fruits.logistic import fit_multinomial, weighted_mean_and_std


def _three_blobs(seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 5.0], [2.0, 0.5, 5.0], [0.5, 2.0, 5.0]])
    y = np.repeat(np.arange(3), n)
    x = centres[y] + rng.normal(0, [0.8, 0.8, 0.05], size=(3 * n, 3)) * [1.0, 10.0, 1.0]  # unequal spreads
    w = rng.uniform(0.2, 3.0, size=3 * n)
    return x, y, w


def _probabilities(x, coefficients, intercepts):
    logits = x @ coefficients.T + intercepts
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _objective(x, y, w, coefficients, intercepts, regularisation, std):
    """pyspark.ml's, written out: weighted mean log-loss + reg / 2 |coefficients x std|^2."""
    p = _probabilities(x, coefficients, intercepts)
    return float(w @ -np.log(p[np.arange(len(y)), y]) / w.sum()
                 + 0.5 * regularisation * np.sum((coefficients * std) ** 2))


@pytest.mark.parametrize("standardization", [True, False])
def test_the_optimum_is_scikit_learns_on_the_same_objective(standardization):
    """scikit-learn minimises C sum w loss + |B|^2 / 2 (intercepts free): ours with C = 1 / (reg sum w), on the
    standardised coordinates (x / std) or on x itself."""
    x, y, w = _three_blobs()
    regularisation = 0.05
    fit = fit_multinomial(x, y, w, 3, regularisation, standardization, tolerance=1e-12)
    std = weighted_mean_and_std(x, w)[1] if standardization else np.ones(x.shape[1])
    reference = LogisticRegression(C=1.0 / (regularisation * w.sum()), tol=1e-12, max_iter=10_000)
    reference.fit(x / std, y, sample_weight=w)
    theirs = (reference.coef_ / std, reference.intercept_ - reference.intercept_.mean())
    ours = _objective(x, y, w, fit.coefficients, fit.intercepts, regularisation, std)
    assert ours == pytest.approx(fit.loss, rel=1e-9)
    assert ours <= _objective(x, y, w, *theirs, regularisation, std) + 1e-9  # as low as scikit-learn's optimum
    np.testing.assert_allclose(fit.coefficients, theirs[0], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fit.intercepts, theirs[1], atol=1e-3)
    np.testing.assert_allclose(_probabilities(x, fit.coefficients, fit.intercepts), reference.predict_proba(x / std),
                               atol=1e-4)
    assert fit.intercepts.sum() == pytest.approx(0.0, abs=1e-9)  # centred, as pyspark.ml returns them


def test_the_std_is_the_weighted_unbiased_one_of_pyspark_summariser():
    x = np.array([[1.0], [2.0], [4.0]])
    mean, std = weighted_mean_and_std(x, np.ones(3))
    np.testing.assert_allclose(mean, np.mean(x, axis=0))
    np.testing.assert_allclose(std, np.std(x, axis=0, ddof=1))
    w = np.array([1.0, 2.0, 1.0])  # frequency weights of the same rows: like the row 2.0 given twice
    np.testing.assert_allclose(weighted_mean_and_std(x, w)[1], np.std([[1.0], [2.0], [2.0], [4.0]], axis=0, ddof=1) *
                               np.sqrt((4 - 1) / (4 - 6 / 4)), rtol=1e-12)


def test_a_coordinate_of_no_spread_gets_no_coefficient():
    x, y, w = _three_blobs(seed=2)
    with_constant = np.column_stack([x, np.full(len(x), 7.0)])
    fit = fit_multinomial(with_constant, y, w, 3, 0.01)
    plain = fit_multinomial(x, y, w, 3, 0.01)
    np.testing.assert_array_equal(fit.coefficients[:, 3], 0.0)
    np.testing.assert_allclose(fit.coefficients[:, :3], plain.coefficients, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fit.intercepts, plain.intercepts, atol=1e-5)


def test_a_class_without_photos_is_never_predicted():
    """y never reaches class 3 of 4: its logits sink to the bottom, nothing breaks."""
    x, y, w = _three_blobs(seed=3)
    fit = fit_multinomial(x, y, w, 4, 0.01)
    p = _probabilities(x, fit.coefficients, fit.intercepts)
    assert p.shape == (len(x), 4) and p[:, 3].max() < 0.05 and (p.argmax(axis=1) != 3).all()


@pytest.mark.parametrize("x, y, w, classes, message", [
    (np.zeros((0, 2)), np.zeros(0, int), np.zeros(0), 2, "at least one"),
    (np.zeros((3, 2)), np.zeros(2, int), np.ones(3), 2, "same rows"),
    (np.zeros((3, 2)), np.zeros(3, int), np.array([1.0, 0.0, 1.0]), 2, "positive"),
    (np.array([[0.0, np.nan]] * 3), np.zeros(3, int), np.ones(3), 2, "finite"),
    (np.zeros((3, 2)), np.array([0, 1, 2]), np.ones(3), 2, r"\[0, 2\)"),
    (np.zeros((3, 2)), np.array([0, -1, 1]), np.ones(3), 2, r"\[0, 2\)"),
])
def test_bad_rows_are_refused(x, y, w, classes, message):
    with pytest.raises(ValueError, match=message):
        fit_multinomial(x, y, w, classes, 0.01)
