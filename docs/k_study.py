"""How k (components for a variance target) depends on the classes: refit the PCA on subsets of a run's features.

    python docs/k_study.py --run OUTPUT [--run OTHER_OUTPUT ...] [--variance 0.95] [--seed 13]

For each run (a `fruits run` OUTPUT: its features/ Parquet), the PCA is refitted in numpy (centred covariance,
eigenvalues: what fit_pca computes in Spark) on the photos of 4, 10, 30 and all the classes (classes drawn at
random with the seed, the same draw for every run), and k is printed for the variance target. Runs made with
different weights on the same photos show the effect of the weights. A study for docs/critique.md, not a test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from fruits.pca_math import choose_k


def spectrum(features: np.ndarray) -> np.ndarray:
    centred = features - features.mean(axis=0)
    covariance = centred.T @ centred / max(len(features) - 1, 1)
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance)[::-1], 0, None)
    return eigenvalues / eigenvalues.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True)
    parser.add_argument("--variance", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    print(f"| run (weights) | classes | photos | k for {args.variance:.0%} |")
    print("| --- | ---: | ---: | ---: |")
    for run in args.run:
        manifest = json.loads((run / "manifest.json").read_text())
        table = pq.read_table(run / "features", columns=["label", "features"])
        labels = np.asarray(table.column("label").to_pylist())
        features = np.asarray(table.column("features").to_pylist(), dtype=np.float64)
        classes = sorted(set(labels))
        order = list(np.random.default_rng(args.seed).permutation(classes))
        weights = manifest.get("weights", {}).get("spec") or "?"
        for n in sorted({min(n, len(classes)) for n in (4, 10, 30, len(classes))}):
            keep = np.isin(labels, order[:n])
            k = choose_k(spectrum(features[keep]), args.variance)
            print(f"| {run.name} ({Path(str(weights)).name}) | {n} | {int(keep.sum())} | {k} |")


if __name__ == "__main__":
    main()
