"""`fruits run INPUT [INPUT ...] OUTPUT`: the Spark pipeline (features, PCA, Parquet + CSV, manifest)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..config import build_run_config, read_config_file
from ..engines import DEFAULT_ENGINE, ENGINES
from ..errors import InputNotFoundError, UsageError
from ..model import check_weights_file
from ..storage import is_local, local_path, qualify, refuse_overlapping
from .terminal import FeaturizeBar, QuietTerminal, log_file_for

log = logging.getLogger("fruits")

_UNITS = {"": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def parse_size(text: str) -> int:
    """'50MB', '512k', '1048576' -> bytes."""
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("kmgb")
    unit = raw[len(number) :]
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 50MB, 512k, 1048576)") from None
    if unit not in _UNITS or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 50MB, 512k, 1048576)")
    return int(value * _UNITS[unit])


def parse_conf(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def add_run_options(parser: argparse.ArgumentParser, weights_default_help: str = "imagenet") -> None:
    """Options shared by `fruits run` and the commands that start it elsewhere (e.g. on EMR)."""
    parser.add_argument(
        "--weights",
        help=f"imagenet (Keras download, driver only), auto (imagenet, else random with a warning), a path or "
        f"s3:// URI of a MobileNetV2 .weights.h5 file, or random[:SEED] (default: {weights_default_help})",
    )
    parser.add_argument("--image-size", type=int, help="square model input in pixels, 32-512 (default: 224)")
    parser.add_argument("--feature-layer", choices=("top", "bottleneck"),
                        help="the backbone's layer whose average is a photo's features: top (1,280 numbers, the "
                        "default) or bottleneck (320, the last block before the top convolution)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--variance", type=float, help="keep the fewest components reaching this variance (default 0.95)")
    choice.add_argument("--k", type=int, help="keep exactly K components instead")
    parser.add_argument("--engine", choices=ENGINES, help=f"inference engine on the executors (default: {DEFAULT_ENGINE})")
    parser.add_argument("--batch-size", type=int, help="images per inference call (default: 2 for litert, 8 for keras)")
    parser.add_argument("--max-bytes", type=parse_size, help="larger files are errors, not crashes (default: 50MB)")
    parser.add_argument("--max-pixels", type=int, help="larger images are refused as bombs (default: 40000000)")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="featurize photos with MobileNetV2 on Spark, reduce with PCA, write Parquet + CSV",
        description="Read every .jpg/.jpeg/.png under each INPUT (label = folder, split = Training/Test above it), "
        "compute MobileNetV2 features on Spark with weights broadcast from the driver, fit a PCA, and write "
        "features/, pca/, pca_csv/, errors/, pca_model/ and manifest.json under OUTPUT.",
    )
    parser.add_argument("inputs", metavar="INPUT", nargs="+",
                        help="folder or URI of photos (path, file://, s3://, s3a://, hdfs://); several are read as one "
                             "set, each photo keeping its label and split (an INPUT given twice or inside another is "
                             "refused)")
    parser.add_argument("output", metavar="OUTPUT", help="folder or URI to write the results to")
    add_run_options(parser)
    parser.add_argument("--reference-views", action="append", metavar="INPUT",
                        help="one of the INPUTs whose labelled Training photos also teach identify's classifier the "
                             "crops identify looks at (two more inferences per photo, every run); for photos taken "
                             "in real conditions, not studio shots. Repeatable")
    parser.add_argument("--master", help="Spark master, e.g. local[4] or yarn (default: spark-submit's, else local[*])")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="write into a non-empty OUTPUT that holds no fruits run")
    parser.add_argument("--incremental", nargs="?", const="on", choices=("on", "strict", "off"),
                        help="reuse the features of the finished run in OUTPUT for the photos whose path, size and "
                             "modification time are unchanged; featurize only new and changed ones. When nothing "
                             "can be reused (other model, no finished run) a full run says why; "
                             "--incremental=strict exits 2 instead")
    parser.add_argument("--threads", type=int, help="threads per inference call (default: cores of one Spark task)")
    parser.add_argument("--arrow-batch-rows", type=int, help="rows per Arrow batch sent to Python (default: 512)")
    parser.add_argument("--conf", type=parse_conf, action="append", metavar="KEY=VALUE",
                        help="extra Spark setting, repeatable (e.g. --conf spark.executor.memory=4g)")
    parser.add_argument("--packages", action="append", metavar="GROUP:ARTIFACT:VERSION",
                        help="Maven package for spark.jars.packages, repeatable")
    parser.add_argument("--s3a", action="store_true",
                        help="read and write s3:// and s3a:// from this machine: adds the hadoop-aws package matching "
                             "pyspark's Hadoop and the S3A settings (credentials from the standard AWS chain; "
                             "AWS_ENDPOINT_URL is honoured); not needed on EMR")
    parser.add_argument("--s3a-jars", metavar="DIR",
                        help="with --s3a, where Maven Central is out of reach: take hadoop-aws and the AWS SDK bundle "
                             "jars from DIR (spark.jars) instead (default: $FRUITS_S3A_JARS); implies --s3a")
    parser.add_argument("--config", metavar="FILE", help="TOML file with a [run] table of defaults for these flags")
    parser.add_argument("--verbose", action="store_true",
                        help="show the libraries' logs (TensorFlow, Spark, ...) here instead of OUTPUT/_logs/")
    parser.set_defaults(handler=handle)


def config_from_args(args: argparse.Namespace):
    flags = {key: getattr(args, key, None) for key in (
        "inputs", "output", "weights", "image_size", "variance", "k", "master", "engine", "batch_size",
        "max_bytes", "max_pixels", "overwrite", "threads", "arrow_batch_rows", "incremental", "feature_layer")}
    flags["spark_conf"] = dict(args.conf or [])
    flags["packages"] = tuple(args.packages or ())
    flags["reference_views"] = tuple(getattr(args, "reference_views", None) or ())
    if getattr(args, "s3a", False) or getattr(args, "s3a_jars", None):
        from ..cloud.s3a import S3A_JARS_ENV, installed_s3a_settings

        s3a = installed_s3a_settings(
            endpoint=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
            jars_dir=getattr(args, "s3a_jars", None) or os.environ.get(S3A_JARS_ENV),
        )
        flags["spark_conf"] = {**s3a.conf, **flags["spark_conf"]}  # an explicit --conf wins
        flags["packages"] = tuple(dict.fromkeys(s3a.packages + flags["packages"]))
    return build_run_config(flags, file_values=read_config_file(getattr(args, "config", None), "run"))


def check_local_paths(config) -> None:
    """Typos in local paths fail in a second, before Spark and TensorFlow take their ten (the job checks
    the same again, for every kind of location)."""
    for location in config.inputs:
        if is_local(location) and not os.path.exists(local_path(location)):
            raise InputNotFoundError.missing(location)
    check_weights_file(config.weights_spec)
    refuse_overlapping([qualify(location) for location in config.inputs])


def handle(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from ..spark.session import under_spark_submit

    # Bare paths are local only in local mode (under spark-submit on a cluster they mean HDFS).
    local = (config.master or ("yarn" if under_spark_submit() else "local")).startswith("local")
    if local:
        check_local_paths(config)
    # On a cluster (spark-submit on EMR) the JVM was started before us and YARN keeps every log: nothing to move.
    quiet = local and not getattr(args, "verbose", False)
    log_path = log_file_for(config.output) if quiet else None
    if log_path:
        log.info("libraries' logs: %s (--verbose shows them here)", log_path)
    with QuietTerminal(log_path) as terminal:
        manifest = _run(config, FeaturizeBar(terminal.terminal) if log_path or sys.stderr.isatty() else None)
    _summary(manifest)
    return 0


def _run(config, bar: FeaturizeBar | None):
    log.info("starting Spark (%s)", config.master or "spark-submit's master, else local[*]")
    from pyspark.sql import SparkSession

    from ..spark import class_archive
    from ..spark.job import run_pipeline
    from ..spark.session import build_spark_session, stop_session

    # Inside a notebook or a test, reuse the caller's session and leave it running.
    ours = SparkSession.getActiveSession() is None
    try:
        spark = build_spark_session(config.master, "fruits run", config.spark_conf, config.packages,
                                    class_archive=class_archive.default_folder())
    except Exception as exc:  # noqa: BLE001 - no Java, bad master URL, unresolvable packages
        raise UsageError(f"cannot start Spark with master {config.master!r}: {str(exc).splitlines()[0][:200]}") from None
    try:
        return run_pipeline(config, spark, on_stage=_stage_line(bar), on_progress=bar)
    finally:
        if bar is not None:
            bar.close()
        if ours:
            stop_session(spark)


def _stage_line(bar: FeaturizeBar | None):
    def say(message: str) -> None:
        if bar is not None:
            bar.close()  # the bar's line ends before the next stage's
        log.info("%s", message)

    return say


def _summary(manifest) -> None:
    lines = [
        f"done: {manifest.n_features} of {manifest.n_input} images featurized, {manifest.n_errors} errors, "
        f"k={manifest.k} components keep {manifest.cumulative_variance:.4f} of the variance",
    ]
    if len(manifest.inputs) > 1:
        lines += [f"  {item.uri}: {item.n_features} of {item.n_input} featurized, {item.n_errors} errors"
                  for item in manifest.inputs]
    reuse = manifest.incremental
    if reuse is not None and reuse.mode == "incremental":
        lines.append(f"incremental: {reuse.reused} reused, {reuse.new} new, {reuse.changed} changed, "
                     f"{reuse.retried} retried, {reuse.removed} removed")
    lines += [
        "timings: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in manifest.timings_s.items()),
        f"outputs: {manifest.output} (manifest.json, features/, pca/, pca_csv/, errors/, pca_model/)",
    ]
    print("\n".join(lines), file=sys.stdout)
    if manifest.weights.warning:
        print(f"WARNING: {manifest.weights.warning}", file=sys.stderr)
