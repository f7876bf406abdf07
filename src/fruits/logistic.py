"""Multinomial logistic regression fitted on one machine, with the objective of pyspark.ml's LogisticRegression.

`fruits run` fits identify's classifier on the PCA coordinates of the reference photos. pyspark.ml's L-BFGS makes
one or two Spark jobs per round, 0.2 to 0.5 s each on two cores: 18 s for the 10,000 references of 100 labels
of the incremental benchmark's first run, 8 s for the tests' 30 photos. When the references fit in the driver's
memory (fruits.spark.classifier decides), the same objective is minimised here by scipy's L-BFGS, and pyspark.ml
keeps the fits too large for one machine. Same objective, so the same optimum (it is strictly convex): the tests
compare with scikit-learn (tests/test_logistic.py) and with pyspark.ml (tests/spark/test_classifier.py).

The objective (pyspark.ml, elasticNetParam 0, fitIntercept): the weighted mean of the photos' log-loss plus
regularisation / 2 times the squared coefficients, on standardised coordinates (x / std, with the weighted,
unbiased std of pyspark.ml's summariser) when `standardization`, else on the coordinates as they are. Intercepts
are not penalised; a coordinate of std 0 gets coefficient 0. The coefficients are returned on the coordinates'
own scale and the intercepts centred, as pyspark.ml returns them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy's L-BFGS stops when one round lowers the loss by less than this fraction, or after MAX_ITERATIONS rounds.
# pyspark.ml's tol 1e-4 (checked by Breeze over a history of ten rounds) reached the loss of the optimum to six
# digits on the benchmark's run. Here, on the 12,542 references of 125 labels of both shared sets at 160 px
# (k = 424, 0.14 s per evaluation of the loss and its gradient): 1e-7 stops 1e-5 above it in 44 rounds (8.8 s),
# 1e-9 at it in 79 rounds (17.2 s), 1e-6 1e-4 above it in 31 rounds (6.7 s).
TOLERANCE = 1e-7
MAX_ITERATIONS = 500


@dataclass(frozen=True)
class Fit:
    coefficients: np.ndarray  # (classes, d), on the coordinates' own scale
    intercepts: np.ndarray  # (classes,), centred
    iterations: int
    loss: float  # the objective at the optimum


def weighted_mean_and_std(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean, and pyspark.ml Summarizer's std: sqrt(sum w (x - mean)^2 / (W - sum w^2 / W)), W = sum w."""
    total = w.sum()
    mean = (w @ x) / total
    denominator = total - (w @ w) / total
    variance = (w @ (x - mean) ** 2) / denominator if denominator > 0 else np.zeros(x.shape[1])
    return mean, np.sqrt(np.maximum(variance, 0.0))


def fit_multinomial(x: np.ndarray, y: np.ndarray, w: np.ndarray, n_classes: int, regularisation: float,
                    standardization: bool = True, tolerance: float = TOLERANCE,
                    max_iterations: int = MAX_ITERATIONS) -> Fit:
    """Fit on rows `x` (n, d) of class indices `y` (n,) in [0, n_classes) weighing `w` (n,) > 0."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    n, d = x.shape
    if y.shape != (n,) or w.shape != (n,) or n == 0:
        raise ValueError(f"x {x.shape}, y {y.shape} and w {w.shape} must have the same rows, at least one")
    if np.any(w <= 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(x)):
        raise ValueError("weights must be positive and every value finite")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"class indices must lie in [0, {n_classes})")
    # Centred and scaled: the optimum is the same (intercepts are free), the conditioning much better.
    mean, std = weighted_mean_and_std(x, w)
    varying = std > 0
    unit = np.where(varying, std, 1.0)  # a coordinate of no spread stays 0 in the scaled space
    scaled = np.where(varying, (x - mean) / unit, 0.0)
    # The penalty's weight per coordinate, in the scaled space: 1, or 1 / std^2 on the coordinates as they are.
    penalty = np.where(varying, 1.0 if standardization else 1.0 / unit ** 2, 0.0)
    share = w / w.sum()
    rows = np.arange(n)

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        # In place where it can be: each evaluation is two (n, d) x (d, classes) products and one pass of exp.
        coefficients = theta[:n_classes * d].reshape(n_classes, d)
        scores = scaled @ coefficients.T
        scores += theta[n_classes * d:]
        scores -= scores.max(axis=1, keepdims=True)
        picked = scores[rows, y]
        np.exp(scores, out=scores)
        norm = scores.sum(axis=1)
        loss = float(share @ (np.log(norm) - picked))
        scores *= (share / norm)[:, None]  # each photo's probabilities, times its share of the weight
        scores[rows, y] -= share  # minus its one-hot label: the gradient of its loss in the scores
        weighted = coefficients * penalty
        loss += 0.5 * regularisation * float((weighted * coefficients).sum())
        gradient = np.concatenate([(scores.T @ scaled + regularisation * weighted).ravel(), scores.sum(axis=0)])
        return loss, gradient

    result = minimize(loss_and_gradient, np.zeros(n_classes * (d + 1)), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iterations, "ftol": tolerance, "gtol": 1e-10})
    coefficients = result.x[:n_classes * d].reshape(n_classes, d) / unit
    intercepts = result.x[n_classes * d:] - coefficients @ mean
    return Fit(coefficients, intercepts - intercepts.mean(), int(result.nit), float(result.fun))
