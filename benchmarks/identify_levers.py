"""Which levers make identify name the right kind of fruit on real shop photos? A table, one row per method.

    python benchmarks/identify_levers.py OUTPUT [--query-input grocery-store-fruit] [--query-split Test]

OUTPUT is a `fruits run` over Fruits-360 and the grocery photos (several INPUTs, or one folder holding both). The
queries are the photos of the query input's Test split; the references are the run's Training photos (Fruits-360
and grocery), as identify uses them, or with `--references all` every other labelled photo (Fruits-360 Test too). Each method scores the labels of the
references; a label's kind comes from fruit_facts.json, and a kind's score is the sum of its labels' scores
("votes per kind"). Printed: kind top-1 and top-3, label top-1, for each method.

Views (test-time augmentation) need the run's model: the query photos are read again from their paths and cut
into views (fruits.views); `--views 1` skips it.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def kind_matrix(classes, facts):
    kinds = sorted({facts.kind_for(c) or c for c in classes})
    position = {k: i for i, k in enumerate(kinds)}
    membership = np.zeros((len(classes), len(kinds)))
    for i, c in enumerate(classes):
        membership[i, position[facts.kind_for(c) or c]] = 1.0
    return kinds, membership


def topk_hits(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean([t in row for t, row in zip(truth, order)]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--query-input", default="grocery-store-fruit")
    parser.add_argument("--query-split", default="Test")
    parser.add_argument("--views", type=int, default=6, help="views per query photo for the TTA rows (1: none)")
    parser.add_argument("--neighbours", type=int, default=20)
    parser.add_argument("--references", choices=("training", "all"), default="training",
                        help="training: the Training photos of every input, as identify uses (default); all: every "
                        "labelled photo but the queries (Fruits-360 Test too)")
    parser.add_argument("--numpy-fit", action="store_true",
                        help="also fit the numpy logistic regression on these references (minutes at k=400)")
    parser.add_argument("--classifier", help="a classifier model.json to use instead of the run's classifier/ "
                        "(benchmarks/refit_classifier.py writes one)")
    parser.add_argument("--product", action="store_true",
                        help="also identify every query photo and photos with no fruit with the product's Identifier")
    parser.add_argument("--product-views", type=int, nargs="+",
                        help="views of the product's Identifier (default: its DEFAULT_VIEWS); several: one run each")
    parser.add_argument("--whole-view-weight", type=float, default=-1.0,
                        help="the product's Identifier: view 0's share of a photo's score (the crops share the "
                        "rest; default: the product's WHOLE_VIEW_WEIGHT; 0 < A < 1, or 'nan' for the plain mean)")
    args = parser.parse_args(argv)

    from fruits.classify import KnnClassifier, LinearModel, kind_scores, reference_mask
    from fruits.evaluation import inputs_of
    from fruits.identify import FruitFacts
    from fruits.run_output import open_run_output

    run = open_run_output(args.output)
    images = run.images
    facts = FruitFacts.load()
    inputs = inputs_of(run)
    labelled = np.asarray([label is not None for label in images.labels])
    query = labelled & (inputs == args.query_input) & (images.splits == args.query_split)
    if args.references == "training":  # what the product uses: fruits.classify.reference_mask
        reference = reference_mask(images.labels, images.splits) & ~query
    else:
        reference = labelled & ~query
    if not query.any():
        print(f"no photo of input {args.query_input!r} split {args.query_split!r}; inputs: {sorted(set(inputs))}",
              file=sys.stderr)
        return 2
    ref_coords, ref_labels = images.coords[reference], list(images.labels[reference])
    truth_labels = images.labels[query]
    print(f"{args.output}: {int(query.sum())} queries ({args.query_input}/{args.query_split}), "
          f"{int(reference.sum())} references, {len(set(ref_labels))} labels, k={run.projection.k} PCA components, "
          f"image size {run.manifest.image_size}")

    # Query coordinates: one view (as stored by the run), and V views per photo when asked.
    single = images.coords[query][:, None, :]
    views = single
    if args.views > 1:
        from fruits.extract import extract_features  # noqa: F401 - the same predictor as identify
        from fruits.identify.service import run_model
        from fruits.views import photo_views

        model = run_model(run)
        size = run.manifest.image_size
        started = time.monotonic()
        rows = []
        for row in np.nonzero(query)[0]:
            pixels = photo_views(run.read_image(int(row)), size, args.views)
            rows.append(run.projection.project(model.predict(pixels)))
        views = np.stack(rows)
        drift = float(np.max(np.abs(views[:, 0, :] - single[:, 0, :])))
        print(f"views: {args.views} per photo in {time.monotonic() - started:.1f} s; view 0 vs the run's "
              f"coordinates: max abs difference {drift:.2e}")

    methods = {}

    def knn(balance: bool, space: str):
        classifier = KnnClassifier(ref_coords, ref_labels, args.neighbours, balance=balance, space=space)
        return classifier.classes, lambda q: classifier.classify(q).scores

    methods["knn euclidean (before)"] = (*knn(False, "euclidean"), "label")
    methods["knn euclidean, votes per kind"] = (*knn(False, "euclidean"), "kind")
    methods["knn euclidean, class-balanced, per kind"] = (*knn(True, "euclidean"), "kind")
    methods["knn cosine whitened, per kind"] = (*knn(False, "cosine"), "kind")
    methods["knn cosine whitened, class-balanced, per kind"] = (*knn(True, "cosine"), "kind")
    if args.numpy_fit:
        linear_fit = LinearModel.fit_numpy(ref_coords, ref_labels)
        methods["logistic (numpy fit), per kind"] = (linear_fit.classes, linear_fit.probabilities, "kind")
    from fruits.identify.service import load_linear_model

    stored = load_linear_model(run) if not args.classifier else read_linear_model(args.classifier)
    if stored is not None:
        where = "the run's classifier/" if not args.classifier else f"weighting {stored.about.get('weighting')}"
        methods[f"logistic (pyspark.ml, {where}), per kind"] = (stored.classes, stored.probabilities, "kind")

    truth_kind_names = [facts.kind_for(t) or t for t in truth_labels]
    print(f"\n{'method':58s} {'views':>5s} {'kind top-1':>10s} {'kind top-3':>10s} {'label top-1':>11s}")
    for name, (classes, score, level) in methods.items():
        kinds, membership = kind_matrix(classes, facts)
        truth_kind = np.asarray([kinds.index(k) if k in kinds else -1 for k in truth_kind_names])
        truth_label = np.asarray([classes.index(t) if t in classes else -1 for t in truth_labels])
        for n_views, coords in [(1, single)] + ([(views.shape[1], views)] if views is not single else []):
            label_scores = np.mean([score(coords[:, v, :]) for v in range(coords.shape[1])], axis=0)
            if level == "label":  # the kind of the best label, then of the next labels
                kind_of_label = membership.argmax(axis=1)
                order = np.argsort(-label_scores, axis=1, kind="stable")
                ranked = [list(dict.fromkeys(kind_of_label[o])) for o in order]
                top1 = float(np.mean([r[0] == t for r, t in zip(ranked, truth_kind)]))
                top3 = float(np.mean([t in r[:3] for r, t in zip(ranked, truth_kind)]))
            else:
                per_kind = kind_scores(label_scores, membership)
                top1, top3 = topk_hits(per_kind, truth_kind, 1), topk_hits(per_kind, truth_kind, 3)
            label1 = topk_hits(label_scores, truth_label, 1)
            print(f"{name:58s} {n_views:5d} {100 * top1:9.1f}% {100 * top3:9.1f}% {100 * label1:10.1f}%")
    if stored is not None and views is not single:
        # The first n views of each photo (the order identify cuts them in: whole square, centre crop, then the
        # corners), scored by the linear model as identify scores them: how many views are worth their inference.
        kinds, membership = kind_matrix(stored.classes, facts)
        truth_kind = np.asarray([kinds.index(k) if k in kinds else -1 for k in truth_kind_names])
        truth_label = np.asarray([stored.classes.index(t) if t in stored.classes else -1 for t in truth_labels])
        print(f"\nlogistic, per kind, the first n views{'':26s} {'views':>5s} {'kind top-1':>10s} "
              f"{'kind top-3':>10s} {'label top-1':>11s}")
        for n_views in range(1, views.shape[1] + 1):
            label_scores = np.mean([stored.probabilities(views[:, v, :]) for v in range(n_views)], axis=0)
            per_kind = kind_scores(label_scores, membership)
            print(f"{'':58s} {n_views:5d} {100 * topk_hits(per_kind, truth_kind, 1):9.1f}% "
                  f"{100 * topk_hits(per_kind, truth_kind, 3):9.1f}% "
                  f"{100 * topk_hits(label_scores, truth_label, 1):10.1f}%")
    if args.product:
        for n_views in args.product_views or [None]:
            product(run, query, facts, stored if args.classifier else True, n_views, args.whole_view_weight)
    return 0


def read_linear_model(path: str):
    import json

    from fruits.classify import LinearModel

    with open(path) as handle:
        return LinearModel.from_dict(json.load(handle))


def product(run, query, facts, linear=True, views: int | None = None, whole: float = -1.0) -> None:
    """The product end to end: `Identifier.identify` on the query photos' bytes and on photos with no fruit."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from tests.no_fruit import all_photos

    from fruits.identify import Identifier
    from fruits.identify.service import MIN_FAMILIARITY, MIN_KIND_SCORE

    options = {"views": views} if views else {}
    if whole != -1.0:  # -1: the product's default; nan: the plain mean
        options["whole_view_weight"] = None if whole != whole else whole
    identifier = Identifier.for_run(run, linear=linear, **options)
    identifier.warm()
    images = run.images
    answers, started = [], time.monotonic()
    for row in np.nonzero(query)[0]:
        answers.append((facts.kind_for(images.labels[row]), identifier.identify(run.read_image(int(row)))))
    label1 = np.mean([a.top[0]["label"] == images.labels[row] for row, (_, a) in zip(np.nonzero(query)[0], answers)])
    seconds = (time.monotonic() - started) / max(1, len(answers))
    top1 = np.mean([a.kind == truth for truth, a in answers])
    top3 = np.mean([truth in [k["kind"] for k in a.kinds] for truth, a in answers])
    confident = [(truth, a) for truth, a in answers if a.confident]
    print(f"\nproduct (Identifier.identify, {identifier.views} views, whole view's weight "
          f"{identifier.whole_view_weight}, {answers[0][1].method}): kind top-1 "
          f"{100 * top1:.1f}%, top-3 {100 * top3:.1f}%, label top-1 {100 * label1:.1f}% on {len(answers)} photos ({1000 * seconds:.0f} ms a photo); "
          f"confident on {len(confident)} ({100 * len(confident) / len(answers):.0f}%), right on "
          f"{sum(a.kind == t for t, a in confident)} of those; thresholds familiarity >= {MIN_FAMILIARITY}, "
          f"kind score >= {MIN_KIND_SCORE}")
    fam = np.array([a.familiarity for _, a in answers])
    score = np.array([a.kinds[0]["score"] for _, a in answers])
    print(f"  shop photos: familiarity p5/p50 {np.percentile(fam, 5):.3f}/{np.median(fam):.3f}, "
          f"best kind score p5/p50 {np.percentile(score, 5):.2f}/{np.median(score):.2f}")
    for name, photo in all_photos().items():
        a = identifier.identify(photo)
        print(f"  no fruit, {name:14s}: confident={a.confident!s:5s} familiarity {a.familiarity:.3f} "
              f"best kind {a.kind} {a.kinds[0]['score']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
