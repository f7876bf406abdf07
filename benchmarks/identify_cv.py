"""Choose identify's classifier without looking at the shop photos it is judged on: cross-validation on the grocery
Training photos. A table, one row per method (and per set of views).

    python benchmarks/identify_cv.py OUTPUT [--folds 5] [--methods ...] [--views-cache FILE] [--test]

Reference views and the L2 penalty (docs/identify.md, "Reference views and the L2 penalty"):

    python benchmarks/identify_cv.py OUTPUT --views-cache VIEWS.npz --cache-views 3 --view-sets 0,1,2 \
        --methods pca:input:1e-3 pca:input:1e-3:augment pca:input:1e-3:augment-add pca:input:1e-4 pca:input:1e-2

OUTPUT is a `fruits run` over Fruits-360 and the grocery photos. The grocery Training photos (the query input's
Training split) are cut into `--folds` folds, stratified by label; each fold in turn is the queries, and the
references are every other Training photo (the other folds and all of Fruits-360 Training), as identify uses them.
The grocery Test photos are never looked at unless `--test` is given, which fits each method once on every Training
photo and scores the Test photos: run it once, for the method(s) the cross-validation chose.

Each method is the multinomial logistic regression `fruits run` fits with pyspark.ml (fruits.spark.classifier):
weighted mean cross-entropy plus regularisation / 2 times the squared coefficients on standardised inputs, L-BFGS
from zero, 100 iterations at most. It is fitted here in numpy/scipy (float32) so that 5 folds of a dozen methods
take minutes, not hours of Spark; the product's own fit of the chosen method is measured by
`benchmarks/identify_levers.py --product`. A method sets:
  space      pca: the run's PCA coordinates (pca/), standardised as the product fits them (PCA coordinates are
             uncorrelated, so standardised is whitened); pca-raw: the same, not standardised (the L2 penalty on
             the raw coefficients, pyspark.ml standardization=False); pca-unit: whitened and scaled to unit
             length (cosine); features: the 1,280 standardised features (features/)
  weighting  none; input: every input (source of photos) weighs the same in the fit, so 1,142 real photos are
             not drowned by 11,400 studio ones; label: every label weighs the same; input-label: every input
             the same, shared evenly by its labels (fruits.spark.classifier.group_weights)
  reg        the L2 regularisation strength
  target     label (a kind's score is the sum of its labels' probabilities) or kind (fit the kinds directly)
  augment    reference views (train-time augmentation): also fit on the crops identify looks at (views
             1..DEFAULT_VIEWS-1 of fruits.identify.service: the centre and top-left crops) of the query input's
             reference photos, as extra rows of the photo's label and input (needs --views-cache; a held-out
             fold's photos and their views are never in the fit). `augment` (= `augment-share`): each input keeps
             its total weight, shared by its photos and their views (what the product's group_weights would do
             with the views as rows); `augment-add`: each view weighs as much as its photo, so the input weighs
             (1 + crops) times as much as before.
  boost=B    the query input's photos weigh B times what the weighting gives them (then renormalised).

Scorers (`--scorers`, each on the same fits): how a photo's views, and the kNN, become its scores; see SCORERS.
The levers of docs/identify.md "More levers":

    python benchmarks/identify_cv.py OUTPUT --views-cache VIEWS.npz --cache-views 3 --view-sets 0,1,2 \
        --methods pca:input:1e-3 pca:input:1e-3:kind pca:input:1e-3:boost=2 pca-raw:input:1e-3 \
        pca-unit:input:1e-3 --scorers mean max geo w0=0.5 knn=0.2

Views (test-time augmentation): with `--views-cache FILE` the query input's photos are cut into the 6 views of
fruits.views and run through the run's model once (minutes; kept in FILE, an .npz, for the next call),
and every method is also scored averaged over several sets of views (`--view-sets`).
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Method:
    space: str = "pca"
    weighting: str = "none"
    reg: float = 1e-3
    target: str = "label"
    augment: str = ""  # "", "share" or "add"
    boost: float = 1.0  # the query input's photos weigh `boost` times their weighting's share (then renormalised)

    @property
    def name(self) -> str:
        extra = (", kinds fitted" if self.target == "kind" else "") + \
            (f", +ref views ({self.augment})" if self.augment else "") + \
            (f", query input x{self.boost:g}" if self.boost != 1.0 else "")
        return f"{self.space} w={self.weighting} reg={self.reg:g}{extra}"


AUGMENTS = {"augment": "share", "augment-share": "share", "augment-add": "add"}


SPACES = ("pca", "pca-raw", "pca-unit", "features")


def parse_method(text: str) -> Method:
    """'pca:input:1e-2[:kind][:augment|augment-share|augment-add][:boost=2]'"""
    parts = text.split(":")
    space, weighting, reg = parts[0], parts[1], float(parts[2])
    if space not in SPACES:
        raise SystemExit(f"unknown space {space!r}: one of {SPACES}")
    augment = [AUGMENTS[p] for p in parts[3:] if p in AUGMENTS]
    boost = [float(p.split("=", 1)[1]) for p in parts[3:] if p.startswith("boost=")]
    return Method(space, weighting, reg, "kind" if "kind" in parts[3:] else "label", augment[0] if augment else "",
                  boost[0] if boost else 1.0)


# --- how a photo's views (and the kNN) become kind scores: post-hoc, on the same fit --------------------------
#   mean       the views' label probabilities averaged (what identify does)
#   max        each kind's score is its best view's (then the scores renormalised)
#   geo        the views' log-probabilities averaged (geometric mean), renormalised
#   w0=A       view 0 (the whole square) weighs A, the crops share 1 - A
#   knn=A      (1 - A) the mean over views + A the kNN's kind scores of view 0 (k=20, the product's kNN)
SCORERS = ("mean",)  # the default: what identify does


def aggregate(scorer: str, label_views: np.ndarray, knn_label: np.ndarray | None) -> np.ndarray:
    """(q, V, C) label probabilities of the views -> (q, C) label scores (rows sum to 1)."""
    name, _, value = scorer.partition("=")
    if name == "mean":
        return label_views.mean(axis=1)
    if name == "max":
        best = label_views.max(axis=1)
        return best / best.sum(axis=1, keepdims=True)
    if name == "geo":
        logs = np.log(np.maximum(label_views, 1e-30)).mean(axis=1)
        logs -= logs.max(axis=1, keepdims=True)
        p = np.exp(logs)
        return p / p.sum(axis=1, keepdims=True)
    if name == "w0":
        a, n = float(value), label_views.shape[1]
        if n == 1:
            return label_views[:, 0]
        weights = np.full(n, (1.0 - a) / (n - 1))
        weights[0] = a
        return np.einsum("qvc,v->qc", label_views, weights)
    if name == "knn":
        a = float(value)
        return (1.0 - a) * label_views.mean(axis=1) + a * knn_label
    raise SystemExit(f"unknown scorer {scorer!r}")


AUGMENT_VIEWS: int | None = None  # --augment-views
MIRRORED_FROM: int | None = None  # --mirror: the index of the first mirrored view in the views cache


def augment_views() -> list[int]:
    """The crops identify looks at besides the whole square: views 1..DEFAULT_VIEWS-1 (or --augment-views - 1);
    with --mirror, then the mirror images of the whole square and of those crops (what `fruits run
    --reference-views` fits, fruits.spark.reference_views)."""
    from fruits.identify.service import DEFAULT_VIEWS

    crops = list(range(1, AUGMENT_VIEWS or DEFAULT_VIEWS))
    return crops if MIRRORED_FROM is None else crops + [MIRRORED_FROM + v for v in [0, *crops]]


DEFAULT_METHODS = ("pca:none:1e-3", "pca:input:1e-3", "pca:label:1e-3", "pca:input-label:1e-3", "pca:input:1e-2",
                   "pca:none:1e-2", "features:input:1e-2", "pca:input:1e-2:kind")


# --- the fit: the objective of pyspark.ml's multinomial LogisticRegression, in float32 -----------------------------


def fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray, reg: float,
                 max_iterations: int = MAX_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(W (C, d), b (C,)) minimising sum(w_i CE_i) / sum(w_i) + reg / 2 |W|^2 on `x` (already standardised)."""
    from scipy.optimize import minimize

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    w = (weights / weights.sum()).astype(np.float32)
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0

    def loss(theta):
        coef = theta[: n_classes * d].reshape(n_classes, d).astype(np.float32)
        bias = theta[n_classes * d:].astype(np.float32)
        logits = x @ coef.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        total = e.sum(axis=1, keepdims=True)
        p = e / total
        ce = -(np.log(np.maximum(p[np.arange(n), y], 1e-30)))
        value = float(np.dot(w, ce)) + 0.5 * reg * float(np.sum(coef.astype(np.float64) ** 2))
        residual = (p - onehot) * w[:, None]
        grad_coef = residual.T @ x + reg * coef
        grad_bias = residual.sum(axis=0)
        return value, np.concatenate([grad_coef.ravel(), grad_bias]).astype(np.float64)

    theta = np.zeros(n_classes * d + n_classes)
    result = minimize(loss, theta, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iterations, "ftol": 1e-6, "gtol": 1e-6, "maxcor": 10})
    return result.x[: n_classes * d].reshape(n_classes, d), result.x[n_classes * d:]


def sample_weights(weighting: str, labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Each photo's weight, by the product's own rule (fruits.spark.classifier.group_weights)."""
    from collections import Counter

    from fruits.spark.classifier import group_weights

    pairs = list(zip(sources.astype(str), labels.astype(str)))
    weights = group_weights(Counter(pairs), weighting)
    return np.asarray([weights[pair] for pair in pairs])


def standardise(reference: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and spread, as pyspark.ml's summarizer computes them with weightCol."""
    w = weights / weights.sum()
    mean = w @ reference
    spread = np.sqrt(np.maximum(w @ (reference - mean) ** 2, 0.0))
    return mean, np.where(spread > 1e-12, spread, 1.0)


# --- data ---------------------------------------------------------------------------------------------------


def load_features(output: str, paths: np.ndarray) -> np.ndarray:
    import pyarrow.parquet as pq

    position = {p: i for i, p in enumerate(paths)}
    features = np.zeros((len(paths), 1280), dtype=np.float32)
    for part in sorted(glob.glob(str(Path(output) / "features" / "*.parquet"))):
        table = pq.read_table(part, columns=["path", "features"])
        rows = [position[p] for p in table.column("path").to_pylist()]
        values = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        features[rows] = values.reshape(len(rows), -1)
    return features


def view_features(run, rows: np.ndarray, cache: str, n_views: int = 6, mirror: bool = False) -> np.ndarray:
    """(len(rows), n_views, d) features of the photos' views, computed once with the run's model (kept in
    `cache`, reused when it holds every photo and at least `n_views` views); `mirror`: (len(rows), 2 * n_views, d),
    the views then their mirror images (left-right), and a cache is reused only when it holds exactly those."""
    path = Path(cache)
    ids = np.asarray([str(run.images.paths[r]) for r in rows])
    if path.exists():
        stored = np.load(path, allow_pickle=False)
        have = {p: i for i, p in enumerate(stored["paths"])}
        mirrored = bool(stored["mirrored"]) if "mirrored" in stored.files else False
        fits = stored["features"].shape[1] == 2 * n_views if mirror else stored["features"].shape[1] >= n_views
        if all(p in have for p in ids) and mirrored == mirror and fits:
            return stored["features"][[have[p] for p in ids]][:, :n_views * (2 if mirror else 1)]
    from fruits.identify.service import run_model
    from fruits.views import photo_views

    model = run_model(run)
    size = run.manifest.image_size
    started, out = time.monotonic(), []
    for i, row in enumerate(rows):
        pixels = photo_views(run.read_image(int(row)), size, n_views)
        out.append(model.predict(np.concatenate([pixels, pixels[:, :, ::-1]]) if mirror else pixels))
        if i % 200 == 0:
            print(f"  views: {i}/{len(rows)} photos, {time.monotonic() - started:.0f} s", flush=True)
    features = np.stack(out).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, paths=ids, features=features, mirrored=np.asarray(mirror))
    mirrored = " and their mirror images" if mirror else ""
    print(f"views: {n_views} per photo{mirrored} for {len(rows)} photos in {time.monotonic() - started:.0f} s "
          f"-> {path}")
    return features


def folds_of(labels: np.ndarray, paths: np.ndarray, n_folds: int) -> np.ndarray:
    """Fold of every query: within each label, the photos in file-name order cut into `n_folds` consecutive
    blocks. The grocery photos of one shelf were shot in a row (Kiwi_001, Kiwi_002...), so random folds would put
    near-twins of a query among its references (measured: 93.6% kind top-1 with random folds for the method that
    reaches 68.5% on the Test photos); consecutive blocks keep most of a shelf's shots on one side."""
    fold = np.zeros(len(labels), dtype=np.int64)
    for label in sorted(set(labels)):
        members = np.nonzero(labels == label)[0]
        members = members[np.argsort(paths[members], kind="stable")]
        fold[members] = (np.arange(len(members)) * n_folds) // len(members)
    return fold


# --- one method, one split -----------------------------------------------------------------------------------


class Data:
    def __init__(self, run, args):
        from fruits.classify import reference_mask
        from fruits.evaluation import inputs_of
        from fruits.identify import FruitFacts

        self.run = run
        self.output = args.output
        self.query_input = args.query_input
        images = run.images
        self.facts = FruitFacts.load()
        self.labels = np.asarray([str(x) if x is not None else "" for x in images.labels], dtype=object)
        self.sources = inputs_of(run)
        self.training = reference_mask(images.labels, images.splits)
        labelled = np.asarray([x is not None for x in images.labels])
        self.queries_cv = np.nonzero(self.training & (self.sources == args.query_input))[0]
        self.queries_test = np.nonzero(labelled & (images.splits == "Test") & (self.sources == args.query_input))[0]
        self.pca = images.coords.astype(np.float32)
        self.features = None
        self.views = {}  # row -> (V, 1280)
        self.kind = np.asarray([self.facts.kind_for(x) or x for x in self.labels], dtype=object)

    def space(self, name: str) -> np.ndarray:
        if name.startswith("pca"):
            return self.pca
        if self.features is None:
            started = time.monotonic()
            self.features = load_features(self.output, np.asarray([str(p) for p in self.run.images.paths]))
            print(f"features/: {self.features.shape} in {time.monotonic() - started:.0f} s", flush=True)
        return self.features

    def view_space(self, name: str, rows: np.ndarray) -> np.ndarray:
        """(len(rows), V, dim) the queries' views in the method's space."""
        feats = np.stack([self.views[int(r)] for r in rows])
        if name == "features":
            return feats
        flat = self.run.projection.project(feats.reshape(-1, feats.shape[-1]))  # every pca-* space
        return flat.reshape(feats.shape[0], feats.shape[1], -1).astype(np.float32)


def unit_rows(x: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """pca-unit: whitened (each coordinate over the references' spread) and scaled to unit length (cosine)."""
    white = x / spread
    return white / np.maximum(np.linalg.norm(white, axis=-1, keepdims=True), 1e-12)


def fit_and_score(data: Data, method: Method, references: np.ndarray, queries: np.ndarray,
                  view_sets: list[tuple[int, ...]], with_knn: bool = False):
    """{views: (classes, (len(queries), V, C) label probabilities of each view)}, fitted on `references`, and the
    kNN's label scores of the queries' view 0 in the same classes (or None)."""
    x = data.space(method.space)
    ref_x, ref_labels, ref_sources = x[references], data.labels[references], data.sources[references]
    extra, n_crops = np.zeros(0, dtype=np.int64), 0
    if method.augment:
        # Only photos of the references (so never the held-out fold's) that have views: the query input's.
        extra = np.asarray([r for r in references if int(r) in data.views], dtype=np.int64)
        crops = data.view_space(method.space, extra)[:, augment_views(), :]
        n_crops = crops.shape[1]
        ref_x = np.concatenate([ref_x, crops.reshape(-1, crops.shape[-1])])
        ref_labels = np.concatenate([ref_labels, np.repeat(data.labels[extra], n_crops)])
        ref_sources = np.concatenate([ref_sources, np.repeat(data.sources[extra], n_crops)])
    targets = np.asarray([data.facts.kind_for(t) or t for t in ref_labels]) if method.target == "kind" \
        else ref_labels
    classes, y = np.unique(targets.astype(str), return_inverse=True)
    weights = sample_weights(method.weighting, ref_labels, ref_sources)
    if method.augment == "add":  # each view weighs what its photo weighs: the photos' weights, then theirs again
        photo_weights = sample_weights(method.weighting, ref_labels[:len(references)], ref_sources[:len(references)])
        weights = np.concatenate([photo_weights, np.repeat(photo_weights[np.isin(references, extra)], n_crops)])
    if method.boost != 1.0:
        weights = weights * np.where(ref_sources == data.query_input, method.boost, 1.0)
        weights = weights * len(weights) / weights.sum()
    transform = (lambda v: v)
    if method.space == "pca-unit":
        spread = np.sqrt(np.maximum(np.average((ref_x - np.average(ref_x, axis=0, weights=weights)) ** 2, axis=0,
                                               weights=weights), 1e-24))
        transform = (lambda v, spread=spread: unit_rows(v, spread))
        ref_x = transform(ref_x)
    if method.space == "pca-raw":  # no standardisation: the penalty acts on the coefficients of raw coordinates
        mean, scale = np.zeros(ref_x.shape[1]), np.ones(ref_x.shape[1])
    else:
        mean, scale = standardise(ref_x.astype(np.float64), weights)
    coef, bias = fit_logistic((ref_x - mean) / scale, y, len(classes), weights, method.reg)
    data.last_fit = (classes, mean, scale, coef, bias)

    def probabilities(q):
        logits = ((transform(q) - mean) / scale) @ coef.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    out = {}
    for views in view_sets:
        if views == (0,):
            label_views = probabilities(x[queries])[:, None, :]
        else:
            q = data.view_space(method.space, queries)[:, list(views), :]
            label_views = np.stack([probabilities(q[:, v, :]) for v in range(q.shape[1])], axis=1)
        out[views] = (classes, label_views)
    knn = None
    if with_knn:
        from fruits.classify import KnnClassifier

        # The product's kNN: the reference photos (never their views), Euclidean on the PCA coordinates, k=20.
        photos = data.pca[references]
        result = KnnClassifier(photos, list(data.labels[references]), 20).classify(data.pca[queries])
        knn_classes = np.asarray(result.classes)
        if method.target == "kind":
            kind_of = np.asarray([data.facts.kind_for(c) or c for c in knn_classes])
            membership = (kind_of[:, None] == classes[None, :]).astype(np.float64)
            knn = result.scores @ membership
        else:
            knn = np.zeros((len(queries), len(classes)))
            knn[:, np.searchsorted(classes, knn_classes)] = result.scores
    return out, knn


def hits(data: Data, classes: np.ndarray, label_p: np.ndarray, queries: np.ndarray, kinds_fitted: bool) -> np.ndarray:
    """(len(queries), 3): kind top-1, kind top-3, label top-1 (0/1 each; NaN when kinds were fitted)."""
    class_kind = np.asarray([data.facts.kind_for(c) or c for c in classes])
    kinds = np.unique(class_kind)
    membership = (class_kind[:, None] == kinds[None, :]).astype(np.float64)
    kind_p = label_p @ membership
    truth_kind = data.kind[queries]
    order = np.argsort(-kind_p, axis=1, kind="stable")[:, :3]
    top1 = kinds[order[:, 0]] == truth_kind
    top3 = np.asarray([t in kinds[o] for t, o in zip(truth_kind, order)])
    label1 = np.full(len(queries), np.nan) if kinds_fitted else classes[label_p.argmax(axis=1)] == data.labels[queries]
    return np.column_stack([top1, top3, label1]).astype(np.float64)


def parse_view_sets(text: str) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in part.split(",")) for part in text.split(";") if part]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--query-input", default="grocery-store-fruit")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help="space:weighting:reg[:kind][:augment|augment-add], e.g. pca:input:1e-2")
    parser.add_argument("--views-cache", help=".npz holding the 6 views' features of the query input's photos")
    parser.add_argument("--cache-views", type=int, default=6,
                        help="views per photo computed into --views-cache (identify's are the first 3)")
    parser.add_argument("--view-sets", default="0,1,2,3,4,5;0,1",
                        help="sets of views to average over besides view 0 (with --views-cache), ';'-separated")
    parser.add_argument("--augment-views", type=int,
                        help="with augment: the crops of views 1..N-1 join the fit (default: identify's DEFAULT_VIEWS)")
    parser.add_argument("--mirror", action="store_true",
                        help="with augment: also fit the mirror images of the whole photo and of the crops it fits, "
                        "as `fruits run --reference-views` does (the views cache then holds every view mirrored too)")
    parser.add_argument("--scorers", nargs="+", default=list(SCORERS),
                        help="how views (and the kNN) become scores, each on the same fit: mean, max, geo, w0=A, "
                        "knn=A (A a share, e.g. knn=0.3)")
    parser.add_argument("--test", action="store_true",
                        help="instead of cross-validating, fit on every Training photo and score the Test photos")
    parser.add_argument("--save-model", help="with --test and one pca method: write its fit as a classifier "
                        "model.json (for benchmarks/identify_levers.py --classifier)")
    args = parser.parse_args(argv)
    global AUGMENT_VIEWS, MIRRORED_FROM
    AUGMENT_VIEWS = args.augment_views
    MIRRORED_FROM = args.cache_views if args.mirror else None
    if args.mirror and not args.views_cache:
        parser.error("--mirror needs --views-cache")

    from fruits.run_output import open_run_output

    run = open_run_output(args.output)
    data = Data(run, args)
    methods = [parse_method(m) for m in args.methods]
    queries_all = data.queries_test if args.test else data.queries_cv
    if not len(queries_all):
        print(f"no query photo in input {args.query_input!r}; inputs: {sorted(set(data.sources))}", file=sys.stderr)
        return 2
    view_sets = [(0,)]
    if args.views_cache:
        view_sets += parse_view_sets(args.view_sets)
        rows = np.concatenate([data.queries_cv, data.queries_test])
        cached = view_features(run, rows, args.views_cache, args.cache_views, args.mirror)
        for row, feats in zip(rows, cached):
            data.views[int(row)] = feats
    n_ref = int(data.training.sum())
    what = (f"{len(queries_all)} {args.query_input}/Test photos, fitted on all {n_ref} Training photos"
            if args.test else f"{len(queries_all)} {args.query_input}/Training photos in {args.folds} folds of consecutive shots "
            f"(references: the other {n_ref - len(queries_all)} Training photos + the other folds)")
    print(f"{args.output}: image size {run.manifest.image_size}, k={run.projection.k}; queries: {what}", flush=True)
    print(f"\n{'method [scorer]':52s} {'views':>11s} {'kind top-1':>10s} {'kind top-3':>10s} {'label top-1':>11s} "
          f"{'fold min-max kind top-1':>23s} {'s/fit':>6s}", flush=True)
    folds = folds_of(data.labels[data.queries_cv], np.asarray([str(p) for p in run.images.paths])[data.queries_cv],
                     args.folds)
    for method in methods:
        results = {(v, sc): [] for v in view_sets for sc in args.scorers}
        with_knn = any(sc.startswith("knn") for sc in args.scorers)
        started = time.monotonic()
        splits = [(np.nonzero(data.training)[0], data.queries_test)] if args.test else [
            (np.nonzero(data.training & ~np.isin(np.arange(len(data.labels)), data.queries_cv[folds == f]))[0],
             data.queries_cv[folds == f]) for f in range(args.folds)]
        for references, queries in splits:
            scored, knn = fit_and_score(data, method, references, queries, view_sets, with_knn)
            for views, (classes, label_views) in scored.items():
                for scorer in args.scorers:
                    label_p = aggregate(scorer, label_views, knn)
                    results[(views, scorer)].append(hits(data, classes, label_p, queries, method.target == "kind"))
        per_fit = (time.monotonic() - started) / len(splits)
        for (views, scorer), parts in results.items():
            pooled = np.concatenate(parts)
            fold_top1 = [100 * p[:, 0].mean() for p in parts]
            label1 = "-" if np.isnan(pooled[:, 2]).any() else f"{100 * pooled[:, 2].mean():.1f}%"
            spread = f"{min(fold_top1):.1f}-{max(fold_top1):.1f}" if len(parts) > 1 else "-"
            name = method.name + ("" if scorer == "mean" else f" [{scorer}]")
            print(f"{name:52s} {','.join(map(str, views)):>11s} {100 * pooled[:, 0].mean():9.1f}% "
                  f"{100 * pooled[:, 1].mean():9.1f}% {label1:>11s} {spread:>23s} {per_fit:6.0f}", flush=True)
    if args.save_model and args.test and methods[-1].space == "pca" and methods[-1].target == "label":
        save_model(args.save_model, methods[-1], *data.last_fit)
    return 0


def save_model(path: str, method: Method, classes, mean, scale, coef, bias) -> None:
    import json

    from fruits.classify import LinearModel

    about = {"fitted_by": "numpy/scipy L-BFGS, the objective of the pyspark.ml fit (benchmarks/identify_cv.py)",
             "regularisation": method.reg, "weighting": method.weighting}
    model = LinearModel(tuple(str(c) for c in classes), np.asarray(mean, dtype=np.float64),
                        np.asarray(scale, dtype=np.float64), np.asarray(coef), np.asarray(bias), about)
    Path(path).write_text(json.dumps(model.to_dict()) + "\n")
    print(f"model of {method.name} -> {path}")


if __name__ == "__main__":
    sys.exit(main())
