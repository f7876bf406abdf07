"""PCA maths that need no Spark: choosing k from a spectrum, projecting a new feature vector.

The Spark job fits the PCA; what it saves (mean, components, spectrum) is loaded here so a new photo can be
projected by the web app or `fruits identify` without starting Spark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UsageError

# Cumulative sums of float ratios can land a hair under an exact target (0.95 -> 0.9499999999).
_TOLERANCE = 1e-9


def validate_variance(variance: float) -> float:
    if not (isinstance(variance, (int, float)) and 0.0 < float(variance) <= 1.0):
        raise UsageError(f"bad --variance {variance!r}: give a fraction of variance to keep, in (0, 1], e.g. 0.95")
    return float(variance)


def validate_k(k: int | None, dim: int) -> int | None:
    if k is None:
        return None
    if not isinstance(k, int) or not 1 <= k <= dim:
        raise UsageError(f"bad --k {k!r}: give a number of components from 1 to {dim}")
    return k


def choose_k(explained_variance_ratio: np.ndarray | list[float], target: float) -> int:
    """The smallest k whose cumulative explained variance reaches `target`."""
    validate_variance(target)
    ratios = np.asarray(explained_variance_ratio, dtype=np.float64)
    if ratios.ndim != 1 or ratios.size == 0:
        raise ValueError("the explained-variance spectrum is empty")
    cumulative = np.cumsum(ratios)
    reached = np.nonzero(cumulative >= min(target, cumulative[-1]) - _TOLERANCE)[0]
    return int(reached[0]) + 1


@dataclass(frozen=True)
class Projection:
    """What projects a feature vector into the run's PCA space: x -> (x - mean) @ components."""

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (d, k), columns are principal axes
    explained_variance_ratio: np.ndarray  # (d,), the whole spectrum

    @property
    def k(self) -> int:
        return int(self.components.shape[1])

    @property
    def cumulative_variance(self) -> float:
        return float(np.sum(self.explained_variance_ratio[: self.k]))

    def project(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        single = features.ndim == 1
        rows = features.reshape(1, -1) if single else features
        if rows.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features have {rows.shape[1]} values, the projection expects {self.mean.shape[0]}")
        out = (rows - self.mean) @ self.components
        return out[0] if single else out

    def to_record(self) -> dict:
        return {
            "k": self.k,
            "dim": int(self.mean.shape[0]),
            "mean": self.mean.astype(np.float64).tolist(),
            "components": self.components.astype(np.float64).T.tolist(),  # k rows of d values
            "explained_variance_ratio": self.explained_variance_ratio.astype(np.float64).tolist(),
        }

    @classmethod
    def from_record(cls, record: dict) -> Projection:
        mean = np.asarray(record["mean"], dtype=np.float64)
        components = np.asarray([np.asarray(row, dtype=np.float64) for row in record["components"]]).T
        ratios = np.asarray(record["explained_variance_ratio"], dtype=np.float64)
        if components.shape != (mean.shape[0], int(record["k"])):
            raise ValueError(f"inconsistent projection: components {components.shape}, mean {mean.shape}")
        return cls(mean=mean, components=components, explained_variance_ratio=ratios)
