"""Fit identify's classifier again on an existing run, with the product's own code (fruits.spark.classifier, pyspark.ml
on local[2]), into a folder outside the run: to measure a weighting or a regularisation on a run of both whole sets
without re-running its 40-minute featurization.

    python benchmarks/refit_classifier.py OUTPUT DEST [--weighting input] [--regularisation 1e-3]
    python benchmarks/identify_levers.py OUTPUT --classifier DEST/model.json --product

DEST/model.json is what `fruits run` would write to OUTPUT/classifier/ with these settings; the line printed last
is what the manifest would record.
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
    args = parser.parse_args(argv)

    from fruits.run_output import open_run_output
    from fruits.spark.hadoop_fs import HadoopFS
    from fruits.spark.session import build_spark_session

    run = open_run_output(args.output)
    spark = build_spark_session("local[2]", "fruits-refit", {"spark.sql.shuffle.partitions": "4"})
    try:
        info = classifier.fit_classifier(spark, Path(args.output).resolve().joinpath("pca").as_uri(),
                                         Path(args.dest).resolve().as_uri(), HadoopFS(spark),
                                         inputs=run.manifest.input_uris, weighting=args.weighting,
                                         regularisation=args.regularisation,
                                         tolerance=args.tolerance)
    finally:
        spark.stop()
    print(json.dumps(info.__dict__ if info else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
