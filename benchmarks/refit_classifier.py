"""Fit identify's classifier again on an existing run, with the product's own code (fruits.spark.classifier, pyspark.ml
on local[2]), into a folder outside the run: to measure a weighting or a regularisation on a run of both whole sets
without re-running its 40-minute featurization.

    python benchmarks/refit_classifier.py OUTPUT DEST [--weighting input] [--regularisation 1e-3]
    python benchmarks/identify_levers.py OUTPUT --classifier DEST/model.json --product

DEST/model.json is what `fruits run` would write to OUTPUT/classifier/ with these settings; the line printed last
is what the manifest would record.

Reference views (train-time augmentation, measured by `benchmarks/identify_cv.py ... :augment`):

    python benchmarks/refit_classifier.py OUTPUT DEST --reference-views VIEWS.npz [--views-input grocery-store-fruit]

VIEWS.npz is the views cache of identify_cv.py (`--views-cache`, the run's model on fruits.views). The
crops identify looks at (views 1..DEFAULT_VIEWS-1) of every Training photo of `--views-input` are projected with
the run's PCA and added to a copy of pca/ (DEST.pca_with_views/, beside DEST) as rows of the photo's path,
label and split; the product's fit then runs on that copy unchanged, so each input keeps its total weight
(group_weights counts the views as the input's photos).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    from fruits.spark import classifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("dest")
    parser.add_argument("--weighting", choices=classifier.WEIGHTINGS, default=classifier.WEIGHTING)
    parser.add_argument("--regularisation", type=float, default=classifier.REGULARISATION)
    parser.add_argument("--tolerance", type=float, default=classifier.TOLERANCE)
    parser.add_argument("--no-standardization", action="store_true",
                        help="the L2 penalty on the coefficients of the raw PCA coordinates (pyspark.ml "
                        "standardization=False; identify_cv.py's pca-raw space)")
    parser.add_argument("--reference-views", help="an .npz of views (benchmarks/identify_cv.py --views-cache): fit "
                        "also on the crops identify looks at of the Training photos of --views-input")
    parser.add_argument("--views-input", default="grocery-store-fruit")
    args = parser.parse_args(argv)

    from fruits.run_output import open_run_output
    from fruits.spark.hadoop_fs import HadoopFS
    from fruits.spark.session import build_spark_session

    run = open_run_output(args.output)
    pca = Path(args.output).resolve().joinpath("pca")
    if args.reference_views:
        dest = Path(args.dest).resolve()  # beside DEST: the fit empties DEST first
        pca = with_reference_views(run, pca, dest.with_name(dest.name + ".pca_with_views"), args.reference_views,
                                   args.views_input)
    spark = build_spark_session("local[2]", "fruits-refit", {"spark.sql.shuffle.partitions": "4"})
    try:
        info = classifier.fit_classifier(spark, pca.as_uri(),
                                         Path(args.dest).resolve().as_uri(), HadoopFS(spark),
                                         inputs=run.manifest.input_uris, weighting=args.weighting,
                                         regularisation=args.regularisation,
                                         tolerance=args.tolerance,
                                         standardization=not args.no_standardization)
    finally:
        spark.stop()
    print(json.dumps(info.__dict__ if info else None))
    return 0


def with_reference_views(run, pca: Path, dest: Path, views_file: str, views_input: str) -> Path:
    """A copy of pca/ at `dest` plus one row per crop identify looks at of each Training photo of `views_input`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fruits.evaluation import inputs_of
    from fruits.identify.service import DEFAULT_VIEWS

    table = pa.concat_tables([pq.read_table(part, columns=["path", "label", "split", "pca"])
                              for part in sorted(pca.glob("*.parquet"))])
    stored = np.load(views_file, allow_pickle=False)
    position = {p: i for i, p in enumerate(stored["paths"])}
    paths = np.asarray([str(p) for p in run.images.paths])
    rows = [r for r in np.nonzero((inputs_of(run) == views_input) & (run.images.splits == "Training"))[0]]
    missing = [paths[r] for r in rows if paths[r] not in position]
    if missing or not rows:
        raise SystemExit(f"{views_file}: no views of {len(missing)} of the {len(rows)} Training photos of "
                         f"{views_input!r} (first: {missing[:1]})")
    features = stored["features"][[position[paths[r]] for r in rows]]  # (n, V, 1280)
    # View 0 is the run's own pixels: its projection must be the run's coordinates (a check that the cache and
    # the run agree), then the crops are projected the same way.
    view0 = run.projection.project(features[:, 0, :])
    gap = float(np.abs(view0 - run.images.coords[rows]).max())
    print(f"view 0 against the run's coordinates: max |difference| {gap:.2e} over {len(rows)} photos")
    crops = list(range(1, DEFAULT_VIEWS))
    coords = run.projection.project(features[:, crops, :].reshape(-1, features.shape[-1])).astype(np.float32)
    extra = pa.table({"path": np.repeat(paths[rows], len(crops)).tolist(),
                      "label": np.repeat(np.asarray([str(run.images.labels[r]) for r in rows]), len(crops)).tolist(),
                      "split": ["Training"] * len(coords),
                      "pca": pa.array(list(coords), type=pa.list_(pa.float32()))})
    dest.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables([table.cast(extra.schema), extra]), dest / "part-00000.parquet")
    print(f"{len(coords)} view rows ({len(crops)} crops of {len(rows)} {views_input} Training photos) + "
          f"{table.num_rows} rows of pca/ -> {dest}")
    return dest


if __name__ == "__main__":
    sys.exit(main())
