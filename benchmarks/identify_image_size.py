"""Which model input size names shop photos best? A paired comparison on the grocery photos alone.

    python benchmarks/identify_image_size.py WEIGHTS GROCERY_DIR [--sizes 160 224]

For each size, featurizes grocery-store-fruit Training and Test with the same engine `fruits run` uses (LiteRT, in
this process, no Spark), fits the numpy logistic regression of fruits.classify on the Training features (PCA to
95% of the variance first, as a run does) and prints kind top-1/top-3 on the Test photos, with the seconds spent.
Only the size changes between rows; the Fruits-360 references are left out to keep it cheap (a full run at each
size costs tens of minutes on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def featurize(paths, size, weights):
    from fruits.engines import EngineSpec, load_predictor, prepare_payload
    from fruits.extract import extract_features
    from fruits.model import WeightsSpec, load_weights

    loaded = load_weights(WeightsSpec.parse(str(weights)), size)
    payload = prepare_payload("litert", loaded, size)
    predictor = load_predictor(EngineSpec("litert", size, loaded.sha256, 2, batch_size=2), lambda: payload)
    out = []
    for start in range(0, len(paths), 64):
        chunk = [p.read_bytes() for p in paths[start:start + 64]]
        out += extract_features(chunk, predictor, size, batch_size=2).features
    return np.stack(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("grocery")
    parser.add_argument("--sizes", type=int, nargs="+", default=[160, 224])
    args = parser.parse_args(argv)

    from fruits.classify import LinearModel
    from fruits.identify import FruitFacts
    from fruits.pca_math import choose_k

    facts = FruitFacts.load()
    root = Path(args.grocery)
    train = sorted((root / "Training").rglob("*.jpg"))
    test = sorted((root / "Test").rglob("*.jpg"))
    print(f"{len(train)} Training and {len(test)} Test photos of {root}")
    print(f"{'size':>5s} {'k':>4s} {'kind top-1':>10s} {'kind top-3':>10s} {'featurize s':>12s}")
    for size in args.sizes:
        started = time.monotonic()
        x_train, x_test = featurize(train, size, args.weights), featurize(test, size, args.weights)
        seconds = time.monotonic() - started
        mean = x_train.mean(axis=0)
        _, s, vt = np.linalg.svd(x_train - mean, full_matrices=False)
        k = choose_k(s**2 / np.sum(s**2), 0.95)
        project = lambda x: (x - mean) @ vt[:k].T  # noqa: E731
        model = LinearModel.fit_numpy(project(x_train), [p.parent.name for p in train])
        scores = model.probabilities(project(x_test))
        kinds = sorted({facts.kind_for(c) for c in model.classes})
        membership = np.array([[facts.kind_for(c) == k_ for k_ in kinds] for c in model.classes], dtype=float)
        per_kind = scores @ membership
        truth = np.array([kinds.index(facts.kind_for(p.parent.name)) for p in test])
        order = np.argsort(-per_kind, axis=1)
        top1 = np.mean(order[:, 0] == truth)
        top3 = np.mean([t in row[:3] for t, row in zip(truth, order)])
        print(f"{size:5d} {k:4d} {100 * top1:9.1f}% {100 * top3:9.1f}% {seconds:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
