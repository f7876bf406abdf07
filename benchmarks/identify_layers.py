"""Which layer of the backbone should identify's classifier read? Cross-validation and Test scores of the product's
fit on the pooled output of several MobileNetV2 layers, not only the last one.

    python benchmarks/identify_layers.py OUTPUT --weights WEIGHTS.h5 --cache LAYERS.npz \
        block_14_add block_16_project_BN block_16_project_BN:w0=0.5 block_16_project_BN:augment=1 \
        out_relu:pca=0.95

OUTPUT is a `fruits run` over Fruits-360 and the grocery photos (it gives the photos, their labels, splits and
inputs, and the image size); WEIGHTS the backbone's weights file (the run's own `--weights`). Every Training photo of
the run and every grocery photo (its first three views, the ones identify looks at: fruits.views) go through
the backbone once; the global average of each layer in LAYERS is kept in `--cache` for the next call (about 6 minutes
for the 12,653 photos of the 160 px run on 2 cores).

A spec is LAYER[+LAYER...][:option=value...], the layers' pooled outputs side by side:
  pca=V      fit on the first principal components that hold V of the references' (weighted) variance, as the
             product fits on pca/ (default: on the layer's own numbers, standardised)
  raw=1      no standardisation (the L2 penalty on the raw coefficients; pyspark.ml standardization=False)
  reg=R      the L2 penalty (default 1e-3, the product's)
  w0=A       with three views, the whole photo weighs A and the two crops share 1 - A (default: the mean)
  augment=1  reference views: the grocery reference photos' two crops as more rows of their label and input
             (shared weight, as benchmarks/identify_cv.py's `augment`)
Each spec is the product's fit (benchmarks/identify_cv.py's numpy twin: input weighting, multinomial logistic
regression, L-BFGS): five folds of consecutive shots of the grocery Training photos (references: the other folds and
every Fruits-360 Training photo), then once on every Training photo for the 111 grocery Test photos. The line
gives kind top-1, kind top-3 and label top-1 for one view and for three. Choose by the cross-validation; the Test
columns are for the figures of the one chosen. `--no-fruit` then fits the last spec once on every Training photo and
prints the best kind score of the photos with no fruit of tests/no_fruit.py beside identify's MIN_KIND_SCORE.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import identify_cv as cv

LAYERS = ("block_12_add", "block_14_add", "block_15_add", "block_16_project_BN", "block_13_expand_relu",
          "block_16_expand_relu", "out_relu")
QUERY_INPUT = "grocery-store-fruit"
VIEWS = 3


def pooled_layers(run, weights: str, rows: np.ndarray, n_views: np.ndarray, cache: str) -> dict[str, np.ndarray]:
    """{layer: (views, width)} and 'owners' (views, 2: row, view) for the photos `rows` (n_views[i] views each)."""
    path = Path(cache)
    if path.exists():
        stored = dict(np.load(path, allow_pickle=False))
        if set(map(int, stored["owners"][:, 0])) >= set(map(int, rows)):
            return stored
    from fruits.views import photo_views

    size = run.manifest.image_size
    model = layer_model(size, weights)
    batch, owners, parts, started = [], [], [[] for _ in LAYERS], time.monotonic()

    def flush():
        for part, out in zip(parts, model.predict(np.stack(batch), verbose=0, batch_size=64)):
            part.append(out.astype(np.float32))
        batch.clear()

    for i, row in enumerate(rows):
        views = photo_views(run.read_image(int(row)), size, int(n_views[i]))
        batch.extend(views)
        owners.extend((int(row), v) for v in range(len(views)))
        if len(batch) >= 256:
            flush()
        if i % 1000 == 0:
            print(f"  layers: {i}/{len(rows)} photos, {time.monotonic() - started:.0f} s", flush=True)
    if batch:
        flush()
    stored = {"owners": np.asarray(owners), **{name: np.concatenate(p) for name, p in zip(LAYERS, parts)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **stored)
    print(f"layers: {len(owners)} views of {len(rows)} photos in {time.monotonic() - started:.0f} s -> {path}")
    return stored


def parse_spec(text: str) -> tuple[list[str], dict]:
    name, *options = text.split(":")
    kinds = {"pca": float, "raw": lambda v: v == "1", "reg": float, "w0": float, "augment": lambda v: v == "1"}
    settings = {}
    for option in options:
        key, _, value = option.partition("=")
        if key not in kinds:
            raise ValueError(f"unknown option {key!r} in {text!r}: one of {sorted(kinds)}")
        settings[key] = kinds[key](value)
    return name.split("+"), settings


class Photos(cv.Data):
    """identify_cv's photos of the run (labels, kinds, inputs, references, the grocery queries), with the folds and,
    once `use` is given them, the layers' pooled outputs of their views."""

    def __init__(self, run, output: str):
        super().__init__(run, argparse.Namespace(output=output, query_input=QUERY_INPUT))
        paths = np.asarray([str(p) for p in run.images.paths])
        self.folds = cv.folds_of(self.labels[self.queries_cv], paths[self.queries_cv], 5)
        self.layers: dict[str, np.ndarray] = {}
        self.views: dict[int, list[int]] = {}  # row -> the rows of `layers` holding its views, view 0 first

    def to_extract(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, views of each): every reference photo (one view) and every grocery photo (VIEWS views)."""
        grocery = (self.sources == QUERY_INPUT) & (self.labels != "")
        rows = np.nonzero(self.training | grocery)[0]
        return rows, np.where(grocery[rows], VIEWS, 1)

    def use(self, layers: dict[str, np.ndarray]) -> None:
        self.layers = layers
        for i, (row, _) in enumerate(layers["owners"]):
            self.views.setdefault(int(row), []).append(i)

    def splits(self):
        everything = np.arange(len(self.labels))
        for fold in range(5):
            held_out = self.queries_cv[self.folds == fold]
            yield np.nonzero(self.training & ~np.isin(everything, held_out))[0], held_out
        yield np.nonzero(self.training)[0], self.queries_test


def fit(photos: Photos, x: np.ndarray, references: np.ndarray, pca: float | None = None, raw: bool = False,
        reg: float = 1e-3, augment: bool = False):
    """The product's fit on the rows `x` of the photos `references` (view 0, and their crops with `augment`):
    (classes, a function from (n, width) features to (n, classes) probabilities)."""
    from fruits.pca_math import choose_k

    ref_x = x[[photos.views[int(r)][0] for r in references]].astype(np.float64)
    ref_labels, ref_sources = photos.labels[references], photos.sources[references]
    if augment:  # the crops of the reference photos that have them (never a held-out photo's)
        owners = [int(r) for r in references if len(photos.views[int(r)]) == VIEWS for _ in range(1, VIEWS)]
        crops = [photos.views[int(r)][v] for r in references if len(photos.views[int(r)]) == VIEWS
                 for v in range(1, VIEWS)]
        ref_x = np.concatenate([ref_x, x[crops].astype(np.float64)])
        ref_labels = np.concatenate([ref_labels, photos.labels[owners]])
        ref_sources = np.concatenate([ref_sources, photos.sources[owners]])
    weights = cv.sample_weights("input", ref_labels, ref_sources)
    project = (lambda a: a)
    if pca:
        centre = np.average(ref_x, axis=0, weights=weights)
        spread = (ref_x - centre).T @ ((ref_x - centre) * (weights / weights.sum())[:, None])
        values, vectors = np.linalg.eigh(spread)
        values, vectors = values[::-1], vectors[:, ::-1]
        k = choose_k(values / values.sum(), pca)  # the product's rule (fruits.pca_math)
        project = (lambda a, c=centre, v=vectors[:, :k]: (a - c) @ v)
        ref_x = project(ref_x)
    classes, y = np.unique(ref_labels.astype(str), return_inverse=True)
    mean, scale = (np.zeros(ref_x.shape[1]), np.ones(ref_x.shape[1])) if raw else cv.standardise(ref_x, weights)
    coef, bias = cv.fit_logistic((ref_x - mean) / scale, y, len(classes), weights, reg)

    def probabilities(features):
        logits = ((project(np.asarray(features, dtype=np.float64)) - mean) / scale) @ coef.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    return classes, probabilities


def mix(per_view: np.ndarray, w0: float | None) -> np.ndarray:
    """(n, VIEWS, C) -> (n, C): the views' mean, or the whole photo at w0 and the crops sharing the rest."""
    if w0 is None:
        return per_view.mean(axis=1)
    return w0 * per_view[:, 0] + (1 - w0) / (per_view.shape[1] - 1) * per_view[:, 1:].sum(axis=1)


def score(photos: Photos, layers: list[str], pca: float | None = None, raw: bool = False, reg: float = 1e-3,
          w0: float | None = None, augment: bool = False) -> dict[int, list[np.ndarray]]:
    """{views: [hits of each fold..., hits of the Test photos]}, hits as identify_cv.hits."""
    x = np.concatenate([photos.layers[name] for name in layers], axis=1)
    out: dict[int, list[np.ndarray]] = {1: [], VIEWS: []}
    for references, queries in photos.splits():
        classes, probabilities = fit(photos, x, references, pca, raw, reg, augment)
        per_view = np.stack([probabilities(x[[photos.views[int(q)][v] for q in queries]]) for v in range(VIEWS)], 1)
        out[1].append(cv.hits(photos, classes, per_view[:, 0], queries, False))
        out[VIEWS].append(cv.hits(photos, classes, mix(per_view, w0), queries, False))
    return out


def no_fruit_scores(run, photos: Photos, weights: str, layers: list[str], pca: float | None = None,
                    raw: bool = False, reg: float = 1e-3, w0: float | None = None, augment: bool = False) -> None:
    """Fitted once on every Training photo: the best kind and its score for each photo with no fruit of
    tests/no_fruit.py (identify's three views through the same layers), and the shop Test photos' best kind score,
    next to identify's MIN_KIND_SCORE."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import no_fruit

    from fruits.identify.service import MIN_KIND_SCORE
    from fruits.views import photo_views

    x = np.concatenate([photos.layers[name] for name in layers], axis=1)
    classes, probabilities = fit(photos, x, np.nonzero(photos.training)[0], pca, raw, reg, augment)
    class_kind = np.asarray([photos.facts.kind_for(c) or c for c in classes])
    kinds = np.unique(class_kind)
    membership = (class_kind[:, None] == kinds[None, :]).astype(np.float64)
    model = layer_model(run.manifest.image_size, weights, layers)

    def best_kind(features: np.ndarray) -> tuple[str, float]:
        kind_p = mix(probabilities(features)[None], w0)[0] @ membership
        return str(kinds[kind_p.argmax()]), float(kind_p.max())

    print(f"best kind score (not sure below MIN_KIND_SCORE = {MIN_KIND_SCORE}):")
    for name, data in no_fruit.all_photos().items():
        views = photo_views(data, run.manifest.image_size, VIEWS)
        outputs = model.predict(views, verbose=0)
        kind, value = best_kind(np.concatenate(outputs if isinstance(outputs, list) else [outputs], axis=1))
        print(f"  {name:14s} {kind:14s} {value:.2f}")
    shop = [best_kind(x[photos.views[int(q)]])[1] for q in photos.queries_test]
    print(f"  shop Test photos: p5 {np.percentile(shop, 5):.2f}, p50 {np.percentile(shop, 50):.2f}")


def layer_model(size: int, weights: str, layers=LAYERS):
    """uint8 (N, size, size, 3) -> [(N, width) for each of `layers`]: the backbone's layers, averaged."""
    import keras

    from fruits.model import build_backbone

    backbone = build_backbone(size)
    backbone.load_weights(weights)
    pixels = keras.Input((size, size, 3), dtype="uint8")
    scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(keras.ops.cast(pixels, "float32"))
    inner = keras.Model(backbone.input, [backbone.get_layer(name).output for name in layers])
    outputs = inner(scaled)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return keras.Model(pixels, [keras.layers.GlobalAveragePooling2D()(out) for out in outputs])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("specs", nargs="+", help="LAYER[+LAYER][:pca=V][:raw=1][:reg=R][:w0=A][:augment=1]")
    parser.add_argument("--weights", required=True, help="the backbone's .weights.h5 (the run's --weights)")
    parser.add_argument("--cache", required=True, help=".npz keeping the layers' pooled outputs")
    parser.add_argument("--no-fruit", action="store_true", help="also, for the last spec fitted on every Training "
                        "photo: the best kind score of the photos with no fruit (tests/no_fruit.py)")
    args = parser.parse_args(argv)

    from fruits.run_output import open_run_output

    try:
        specs = [parse_spec(text) for text in args.specs]
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    run = open_run_output(args.output)
    unknown = sorted({name for layers, _ in specs for name in layers} - set(LAYERS))
    if unknown:
        print(f"unknown layer(s) {unknown}: one of {list(LAYERS)}", file=sys.stderr)
        return 2
    photos = Photos(run, args.output)
    photos.use(pooled_layers(run, args.weights, *photos.to_extract(), args.cache))
    print(f"{args.output}: {len(photos.queries_cv)} {QUERY_INPUT}/Training photos in 5 folds, "
          f"{len(photos.queries_test)} Test photos; kind top-1 / kind top-3 / label top-1, %")
    print(f"{'spec':52s} {'views':>5s} {'cross-validation':>20s} {'Test':>20s} {'s/fit':>6s}", flush=True)
    for text, (names, settings) in zip(args.specs, specs):
        started = time.monotonic()
        result = score(photos, names, **settings)
        per_fit = (time.monotonic() - started) / 6
        for views, parts in result.items():
            pooled, test = 100 * np.concatenate(parts[:5]).mean(axis=0), 100 * parts[5].mean(axis=0)
            print(f"{text:52s} {views:5d} {' / '.join(f'{v:4.1f}' for v in pooled):>20s} "
                  f"{' / '.join(f'{v:4.1f}' for v in test):>20s} {per_fit:6.0f}", flush=True)
    if args.no_fruit:
        no_fruit_scores(run, photos, args.weights, specs[-1][0], **specs[-1][1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
