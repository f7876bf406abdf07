"""Isolated measurements behind docs/performance.md (the Spark-side levers are `make bench` runs).

    python benchmarks/levers.py inference   # LiteRT and TensorFlow images/s per batch size and thread count
    python benchmarks/levers.py decode      # where the 0.5 ms of Pillow decoding goes; JPEG draft on a big photo
    python benchmarks/levers.py openvino    # OpenVINO's CPU plugin against LiteRT (pip install openvino)
    python benchmarks/levers.py peak        # single-core fp32 peak (TensorFlow/oneDNN matmul), for the limit
    python benchmarks/levers.py stage       # the featurize stage of the job under different Spark settings
    python benchmarks/levers.py profile     # where the featurize stage's time goes: JVM scan, Arrow, decode, ...
    python benchmarks/levers.py pca         # Spark ML's PCA against the job's PCA on the same features
    python benchmarks/levers.py listing     # how long listing INPUT takes, and the Spark jobs it starts
    python benchmarks/levers.py jobs        # the Spark jobs of one `fruits run`: how many, their stages and tasks

Each measurement runs in this process, one at a time; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd  # pandas UDF type hints (profile) are resolved from module globals

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
DEFAULT_IMAGES = ROOT.parent / "shared" / "data" / "fruits-360-sample"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "models" / "mobilenet_v2_backbone_160.weights.h5"


def rate(function, items: int, repeat: int = 3) -> float:
    """Best images/s of `repeat` timed calls (after one warm-up call)."""
    function()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return items / best


def inference(args) -> None:
    from fruits.engines import LiteRTPredictor, prepare_payload
    from fruits.model import WeightsSpec, build_feature_model, configure_tensorflow_threads, load_weights

    # TensorFlow's pools are fixed when it starts: pin it to 1 thread before the weights load starts it.
    configure_tensorflow_threads(1)
    size = args.image_size
    weights = load_weights(WeightsSpec.parse(str(args.weights)), size)
    flatbuffer = prepare_payload("litert", weights, size)
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, size, size, 3), dtype=np.uint8)
    print("| engine | threads | batch | images/s |\n| --- | ---: | ---: | ---: |")
    for threads in (1, 2):
        predictor = LiteRTPredictor(flatbuffer, threads)
        for batch in (1, 2, 4, 8, 16, 32, 64):
            def run(batch=batch):
                for start in range(0, 64, batch):
                    predictor.predict(pixels[start:start + batch])
            print(f"| litert | {threads} | {batch} | {rate(run, 64):.0f} |", flush=True)
    model = build_feature_model(size, weights.arrays)
    for batch in (4, 8, 16, 32, 64):
        def run(batch=batch):
            for start in range(0, 64, batch):
                model.predict_on_batch(pixels[start:start + batch])
        print(f"| keras | 1 | {batch} | {rate(run, 64):.0f} |", flush=True)


def decode(args) -> None:
    from PIL import Image, ImageOps

    from fruits.images import decode_and_resize, open_image, square_crop_box, to_rgb

    photos = sorted(args.images.rglob("*.jpg"))[:500]
    data = [path.read_bytes() for path in photos]
    size = args.image_size

    def step(upto: str):
        def run():
            for blob in data:
                image = open_image(blob)
                if upto == "open":
                    continue
                image.load()
                if upto == "decode":
                    continue
                image = ImageOps.exif_transpose(image) or image
                if upto == "exif":
                    continue
                image = to_rgb(image)
                image = image.resize((size, size), Image.Resampling.BILINEAR, box=square_crop_box(*image.size))
                if upto == "resize":
                    continue
                np.asarray(image, dtype=np.uint8)
        return run

    previous = 0.0
    print(f"{len(data)} sample photos, microseconds per photo (cumulative, then the step alone):")
    for upto in ("open", "decode", "exif", "resize", "numpy"):
        microseconds = 1e6 / rate(step(upto), len(data))
        print(f"  {upto:>7}: {microseconds:6.0f} us  (+{microseconds - previous:.0f})")
        previous = microseconds
    whole = 1e6 / rate(lambda: [decode_and_resize(blob, size) for blob in data], len(data))
    print(f"  decode_and_resize: {whole:.0f} us")

    pixels = np.random.default_rng(0).integers(0, 255, size=(3000, 4000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=70)
    big = buffer.getvalue()

    def full():
        image = Image.open(io.BytesIO(big)).convert("RGB")
        image.resize((size, size), Image.Resampling.BILINEAR, box=square_crop_box(*image.size))

    with_draft = 1e3 / rate(lambda: decode_and_resize(big, size), 1)
    without = 1e3 / rate(full, 1)
    print(f"4000x3000 JPEG: {with_draft:.0f} ms with draft(), {without:.0f} ms decoding every pixel")


def openvino(args) -> None:
    """Another runtime on the same LiteRT flatbuffer: OpenVINO's CPU plugin reads .tflite files itself. One thread,
    f32, each batch size timed for both runtimes in turn; then two 1-thread LiteRT processes side by side (what
    `fruits run` on 2 cores does) and one 2-thread one. Not a dependency of fruits: pip install openvino to run it."""
    import subprocess
    import tempfile

    try:
        import openvino as ov
    except ImportError:
        sys.exit("levers.py openvino: pip install openvino first (it is not a dependency of fruits)")
    from fruits.engines import LiteRTPredictor, prepare_payload
    from fruits.model import WeightsSpec, load_weights

    size = args.image_size
    flatbuffer = prepare_payload("litert", load_weights(WeightsSpec.parse(str(args.weights)), size), size)
    with tempfile.NamedTemporaryFile(suffix=".tflite") as model_file:
        model_file.write(flatbuffer)
        model_file.flush()
        core = ov.Core()
        pixels = np.random.default_rng(0).integers(0, 256, size=(64, size, size, 3), dtype=np.uint8)
        print(f"openvino {ov.__version__}\n| runtime | threads | batch | images/s |\n| --- | ---: | ---: | ---: |")
        litert = LiteRTPredictor(flatbuffer, 1)
        worst = 0.0
        for batch in (1, 2, 8):
            network = core.read_model(model_file.name)
            network.reshape([batch, size, size, 3])
            compiled = core.compile_model(network, "CPU", {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT":
                                                            "f32", "PERFORMANCE_HINT": "LATENCY"})
            request = compiled.create_infer_request()

            def run_openvino(batch=batch, request=request, compiled=compiled):
                return [request.infer({0: pixels[start:start + batch]})[compiled.output(0)].copy()
                        for start in range(0, 64, batch)]

            def run_litert(batch=batch):
                return [litert.predict(pixels[start:start + batch]) for start in range(0, 64, batch)]

            print(f"| litert | 1 | {batch} | {rate(run_litert, 64):.0f} |", flush=True)
            print(f"| openvino | 1 | {batch} | {rate(run_openvino, 64):.0f} |", flush=True)
            worst = max(worst, float(np.abs(np.concatenate(run_openvino()) - np.concatenate(run_litert())).max()))
        print(f"max abs difference of the features, openvino - litert: {worst:.1e}")
        # Two cores: two 1-thread processes side by side (the job's shape), then one process with 2 threads.
        code = ("import sys, time, numpy as np; sys.path.insert(0, sys.argv[1]); from fruits.engines import "
                "LiteRTPredictor; p = LiteRTPredictor(open(sys.argv[2], 'rb').read(), int(sys.argv[3])); "
                f"x = np.zeros((2, {size}, {size}, 3), np.uint8); [p.predict(x) for _ in range(5)]; "
                "t = time.perf_counter(); [p.predict(x) for _ in range(150)]; print(300 / (time.perf_counter() - t))")
        command = [sys.executable, "-c", code, str(ROOT / "src"), model_file.name]
        pair = [subprocess.Popen([*command, "1"], stdout=subprocess.PIPE, text=True) for _ in range(2)]
        rates = [float(process.communicate()[0]) for process in pair]
        print(f"litert, two 1-thread processes side by side, batch 2: {rates[0]:.0f} + {rates[1]:.0f} = "
              f"{sum(rates):.0f} images/s")
        both = float(subprocess.run([*command, "2"], stdout=subprocess.PIPE, text=True, check=True).stdout)
        print(f"litert, one process with 2 threads, batch 2: {both:.0f} images/s")


def peak(args) -> None:
    from fruits.model import configure_tensorflow_threads

    configure_tensorflow_threads(1)
    import tensorflow as tf

    a = tf.random.uniform((2048, 2048))
    b = tf.random.uniform((2048, 2048))
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    flops = 2 * 2048**3
    per_second = rate(lambda: matmul(a, b).numpy(), 1)
    print(f"single-core fp32 matmul (oneDNN, 1 thread): {flops * per_second / 1e9:.0f} GFLOP/s")
    macs = 0.30e9
    print(f"MobileNetV2 at 224: ~{macs / 1e9:.2f} GMAC = {2 * macs / 1e9:.2f} GFLOP per image: the peak allows "
          f"{flops * per_second / (2 * macs):.0f} images/s per core")


# name -> (fruits run flags as config fields, extra Spark settings): the settings the "stage" measurement compares.
STAGE_SETTINGS = {
    "defaults (batch 2, ~2 tasks per core)": ({}, {}),
    "batch 16": ({"batch_size": 16}, {}),
    "~120 photos per task": ({}, {"spark.sql.files.minPartitionNum": "22"}),
    "~48 photos per task": ({}, {"spark.sql.files.minPartitionNum": "55"}),
    "4 photos per task (first version)": ({}, {"spark.sql.files.openCostInBytes": str(4 * 1024**2),
                                               "spark.sql.files.maxPartitionBytes": str(16 * 1024**2)}),
    "Arrow batches of 32 rows": ({"arrow_batch_rows": 32}, {}),
    "Parquet uncompressed": ({}, {"spark.sql.parquet.compression.codec": "uncompressed"}),
    # The same as the first row, last: how much of a difference is only the JVM warming up over the runs.
    "defaults again": ({}, {}),
}


def stage(args) -> None:
    """`featurize_to_output` (read, decode, infer, write features/ and errors/) timed under each setting.

    One Spark session (local[2]) for all of them, warmed by a first untimed pass, so the differences are the
    settings' and not the JVM's warm-up. The model is built once per worker and reused (same weights key).
    """
    import dataclasses
    import tempfile

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from fruits.config import RunConfig
    from fruits.spark import steps
    from fruits.spark.session import build_spark_session

    spark = build_spark_session("local[2]", "fruits levers")
    with tempfile.TemporaryDirectory(prefix="fruits-stage-") as out:
        base = RunConfig(inputs=(str(args.images),), output=out, weights=str(args.weights),
                         image_size=args.image_size, overwrite=True).validated()
        model = steps.broadcast_model(spark, base)
        locations = steps.resolve_locations(spark, base)
        uris = steps.output_uris(locations.output)
        runs = [("warm-up (not timed)", ({}, {}))] + list(STAGE_SETTINGS.items())
        print("| setting | stage s | images/s |\n| --- | ---: | ---: |")
        for name, (fields, conf) in runs:
            config = dataclasses.replace(base, spark_conf=conf, **fields).validated()
            steps.configure_session(spark, config)
            for key, value in conf.items():
                spark.conf.set(key, value)
            discovered = steps.discover(spark, locations.inputs)
            started = time.perf_counter()
            result = steps.featurize_to_output(spark, discovered, model, config, uris)
            seconds = time.perf_counter() - started
            if name.startswith("warm-up"):
                continue
            print(f"| {name} | {seconds:.1f} | {result.n_input / seconds:.0f} |", flush=True)
            for key in conf:
                spark.conf.unset(key)
        model.destroy()
    spark.stop()


def limited_images(images: Path, limit: int | None) -> Path:
    """The first `limit` photos of `images` as symlinks in a temporary folder (same layout), or `images`."""
    if not limit:
        return images
    import tempfile

    staged = Path(tempfile.mkdtemp(prefix="fruits-levers-"))
    images = images.resolve()  # the symlinks must point to absolute paths
    photos = sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
    for photo in photos:
        target = staged / photo.relative_to(images)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(photo)
    return staged


class ProcessCpu:
    """CPU seconds of the JVM under this driver and of its Python workers, between two snapshots.

    In local mode the driver (this process) starts the JVM, the JVM the pyspark daemon, the daemon the workers.
    Workers are reused, so a snapshot before and after a measurement covers them (new ones start at 0).
    """

    def __init__(self):
        import psutil

        self._me = psutil.Process()

    def snapshot(self) -> dict[int, tuple[str, float]]:
        import psutil

        taken = {}
        for process in self._me.children(recursive=True):
            try:
                times = process.cpu_times()
                kind = "jvm" if process.name() == "java" else "python"
                taken[process.pid] = (kind, times.user + times.system)
            except psutil.Error:
                pass
        return taken

    @staticmethod
    def delta(before, after) -> dict[str, float]:
        spent = {"jvm": 0.0, "python": 0.0}
        for pid, (kind, seconds) in after.items():
            spent[kind] += seconds - before.get(pid, (kind, 0.0))[1]
        return spent


def staged_partitioned_write(spark, discovered, model, config, uris) -> int:
    """A one-pass alternative to the job's featurize step, measured and not kept: every featurized row written
    once, partitioned by status into a staging folder beside features/ (no DISK_ONLY copy), the `ok` partition
    renamed to features/, the rare error rows rewritten to errors/ by a small job. Both partitions carry the
    schema of features/, so an error row's reason rides in `label` there. Returns the rows written."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from fruits.spark import steps
    from fruits.spark.featurize import FeaturizeCounters, make_featurize_udf

    udf = make_featurize_udf(model.spec, model.broadcast, config.limits, FeaturizeCounters(spark))
    rows = steps.featurized_rows(discovered, udf, config.max_bytes)
    failed = F.col("error").isNotNull()
    written = Observation("staged")
    staged = rows.observe(written, F.sum(F.when(failed, 0).otherwise(1)).alias("ok"),
                          F.sum(F.when(failed, 1).otherwise(0)).alias("failed")).select(
        "path", F.when(failed, F.col("error")).otherwise(F.col("label")).alias("label"), "split", "features",
        F.when(failed, F.lit("error")).otherwise(F.lit("ok")).alias("status"))
    staging = uris["features"].rsplit("/", 1)[0] + "/_featurized"
    staged.write.mode("overwrite").partitionBy("status").parquet(staging)
    counts = written.get
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()

    def path(uri):
        return jvm.org.apache.hadoop.fs.Path(uri)

    fs = path(staging).getFileSystem(conf)
    errors = spark.createDataFrame([], "path string, reason string")
    if counts["failed"]:
        errors = spark.read.schema(steps.FEATURES_SCHEMA).parquet(staging + "/status=error").select(
            "path", F.col("label").alias("reason"))
    errors.write.mode("overwrite").parquet(uris["errors"])
    fs.delete(path(uris["features"]), True)
    if counts["ok"]:
        fs.rename(path(staging + "/status=ok"), path(uris["features"]))
    fs.delete(path(staging), True)
    return counts["ok"] + counts["failed"]


def profile(args) -> None:
    """The featurize stage built up step by step, each step timed with the CPU it took in the JVM and Python.

    One Spark session (local[2]) warmed by a first untimed full pass. Steps, each a Spark job over all photos:
    1. the JVM reads the files (binaryFile scan, a `noop` sink: nothing written);
    2. + the Arrow round trip to the Python workers and back (a pandas UDF returning a constant feature row);
    3. + Pillow decoding in the UDF (features still constant);
    4. + inference: the job's own featurize UDF, results to `noop`;
    4w. + one plain Parquet write of those rows (one output, nothing else: the floor of any way to write);
    5. the job's whole step (`featurize_to_output`): 4 + the rows persisted DISK_ONLY, features/ and errors/
       written from them by two jobs, counting by observed metrics;
    5'. the one-pass alternative tried and not kept (`staged_partitioned_write`): 4 + one write partitioned by
       status into a staging folder, features/ renamed from it, errors/ rewritten from its error rows.
    `--rounds N` runs the steps N times in turn (every other round backwards); `--steps 4,4w,5,5'` only these.
    Then, without Spark, the per-photo CPU of decoding and of inference alone on the same photos.
    """
    import tempfile

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql.functions import pandas_udf

    from fruits.config import RunConfig
    from fruits.engines import DEFAULT_BATCH_SIZE, LiteRTPredictor, prepare_payload
    from fruits.extract import extract_features
    from fruits.images import decode_and_resize
    from fruits.model import FEATURE_DIM, WeightsSpec, load_weights
    from fruits.spark import steps
    from fruits.spark.discover import readable_photos
    from fruits.spark.featurize import FeaturizeCounters, featurize_images, make_featurize_udf
    from fruits.spark.session import build_spark_session

    size = args.image_size
    args.images = limited_images(args.images, args.limit)
    spark = build_spark_session("local[2]", "fruits profile")
    cpu = ProcessCpu()
    zeros = np.zeros(FEATURE_DIM, np.float32)

    @pandas_udf("features array<float>, error string")
    def arrow_only(contents: pd.Series) -> pd.DataFrame:
        return pd.DataFrame({"features": [zeros] * len(contents), "error": [None] * len(contents)})

    @pandas_udf("features array<float>, error string")
    def decode_only(contents: pd.Series) -> pd.DataFrame:
        for blob in contents:
            decode_and_resize(blob, size)
        return pd.DataFrame({"features": [zeros] * len(contents), "error": [None] * len(contents)})

    with tempfile.TemporaryDirectory(prefix="fruits-profile-") as out:
        config = RunConfig(inputs=(str(args.images),), output=out, weights=str(args.weights), image_size=size,
                           overwrite=True).validated()
        steps.configure_session(spark, config)
        model = steps.broadcast_model(spark, config)
        locations = steps.resolve_locations(spark, config)
        uris = steps.output_uris(locations.output)
        discovered = steps.discover(spark, locations.inputs)
        n = discovered.n_input
        images = readable_photos(discovered.files[0], config.max_bytes)
        counters = FeaturizeCounters(spark)
        featurize = make_featurize_udf(model.spec, model.broadcast, config.limits, counters)

        def noop(frame):
            frame.write.format("noop").mode("overwrite").save()

        from pyspark.sql import functions as F

        measurements = [
            ("1. read the files (JVM scan)", lambda: noop(images.select("path", F.length("content")))),
            ("2. + Arrow to Python and back", lambda: noop(featurize_images(images, arrow_only))),
            ("3. + decode (Pillow)", lambda: noop(featurize_images(images, decode_only))),
            ("4. + inference (the featurize UDF)", lambda: noop(featurize_images(images, featurize))),
            ("4w. + one plain Parquet write of the rows (the floor)", lambda: featurize_images(images, featurize)
             .write.mode("overwrite").parquet(os.path.join(out, "floor"))),
            ("5. + persist DISK_ONLY, write features/ errors/ (featurize_to_output)", lambda: steps.featurize_to_output(
                spark, discovered, model, config, uris)),
            ("5'. + one write partitioned by status, renamed (tried)", lambda: staged_partitioned_write(
                spark, discovered, model, config, uris)),
        ]
        measurements[5][1]()  # warm-up: workers started, model built, JVM code compiled
        if args.steps:
            wanted = args.steps.split(",")
            measurements = [item for item in measurements if item[0].split(" ", 1)[0].rstrip(".") in wanted]
        print(f"{n} photos at {size} px, local[2]; CPU seconds per photo in ms; load average before: "
              f"{os.getloadavg()[0]:.1f}")
        print("| step | wall s | images/s | JVM CPU ms/photo | Python CPU ms/photo | idle of 2 cores |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for round_ in range(args.rounds):
            # Every other round in the reverse order, so a drift of the machine hits every step alike.
            order = measurements if round_ % 2 == 0 else measurements[::-1]
            for name, run in order:
                before = cpu.snapshot()
                started = time.perf_counter()
                run()
                wall = time.perf_counter() - started
                spent = cpu.delta(before, cpu.snapshot())
                idle = 1 - (spent["jvm"] + spent["python"]) / (2 * wall)
                print(f"| {name} | {wall:.1f} | {n / wall:.0f} | {1e3 * spent['jvm'] / n:.2f} | "
                      f"{1e3 * spent['python'] / n:.2f} | {idle:.0%} |", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        model.destroy()
        spark.stop()
        if args.no_baseline:
            return

        # The same photos without Spark, in this process, 1 thread: what the Python workers cannot avoid.
        weights = load_weights(WeightsSpec.parse(str(args.weights)), size)
        predictor = LiteRTPredictor(prepare_payload("litert", weights, size), 1)
        photos = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        photos = photos[:1000]
        blobs = [p.read_bytes() for p in photos]
        pixels = np.stack([decode_and_resize(blob, size) for blob in blobs[:64]])
        batch = DEFAULT_BATCH_SIZE["litert"]

        def infer():
            for start in range(0, 64, batch):
                predictor.predict(pixels[start:start + batch])

        def whole():
            extract_features(blobs, predictor, size, batch_size=batch)

        decode_ms = 1e3 / rate(lambda: [decode_and_resize(blob, size) for blob in blobs], len(blobs), repeat=2)
        infer_ms = 1e3 / rate(infer, 64)
        whole_ms = 1e3 / rate(whole, len(blobs), repeat=1)
        print(f"\nwithout Spark, 1 thread, {len(blobs)} of the photos: decode {decode_ms:.2f} ms, inference "
              f"(batch {batch}) {infer_ms:.2f} ms, extract_features (both) {whole_ms:.2f} ms per photo")


def listing(args) -> None:
    """How the photos are listed: the driver's listing of INPUT (`load_files`), the count of what it listed, a
    scan of the listing's columns only (no photo opened) and the symlink-loop check, each timed with the Spark
    jobs it started (Spark lists a folder of more than `spark.sql.sources.parallelPartitionDiscovery.threshold`
    sub-folders with a Spark job of its own)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from fruits.spark import steps
    from fruits.spark.discover import count_listed, load_files, listing as listing_columns
    from fruits.spark.session import build_spark_session
    from fruits.storage import qualify, symlink_loops

    spark = build_spark_session("local[2]", "fruits listing")
    context = spark.sparkContext
    uri = qualify(str(args.images))
    spark.range(1).write.format("noop").mode("overwrite").save()  # the JVM's first job, not timed

    def timed(name, function):
        context.setJobGroup(name, name)
        started = time.perf_counter()
        value = function()
        seconds = time.perf_counter() - started
        jobs = len(context.statusTracker().getJobIdsForGroup(name))
        print(f"| {name} | {seconds:.2f} | {jobs} |", flush=True)
        return value

    print(f"{uri}, load average {os.getloadavg()[0]:.1f}\n| step | s | Spark jobs |\n| --- | ---: | ---: |")
    files = timed("load_files (the listing)", lambda: load_files(spark, uri))
    timed("count_listed", lambda: count_listed(files))
    timed("scan of the listing's columns (noop)",
          lambda: listing_columns(files).write.format("noop").mode("overwrite").save())
    timed("symlink_loops (os.walk)", lambda: symlink_loops(str(args.images)))
    timed("load_files again (a second listing?)", lambda: load_files(spark, uri))
    timed("discover (all of it)", lambda: steps.discover(spark, (uri,)))
    context.setJobGroup("done", "done")
    spark.stop()


def jobs(args) -> None:
    """The Spark jobs of one `fruits run` (in this process, local[2], a warmed session): how many, their stages
    and tasks. Every job is a scheduling round, and a job of Python UDFs waits for a Python worker."""
    import tempfile

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from fruits.config import RunConfig
    from fruits.spark.job import run_pipeline
    from fruits.spark.session import build_spark_session

    spark = build_spark_session("local[2]", "fruits jobs")
    tracker = spark.sparkContext.statusTracker()
    spark.range(1).write.format("noop").mode("overwrite").save()  # the JVM's first job, not counted
    with tempfile.TemporaryDirectory(prefix="fruits-jobs-") as out:
        config = RunConfig(inputs=(str(args.images),), output=out, weights=str(args.weights),
                           image_size=args.image_size, overwrite=True)
        before = set(tracker.getJobIdsForGroup(None))
        started = time.perf_counter()
        manifest = run_pipeline(config, spark)
        seconds = time.perf_counter() - started
        ids = sorted(set(tracker.getJobIdsForGroup(None)) - before)
    # Spark's own REST API (the UI of this session, on localhost) knows each job's name and times.
    import datetime as dt
    import json
    import urllib.request

    context = spark.sparkContext
    with urllib.request.urlopen(f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/jobs") as answer:
        described = {job["jobId"]: job for job in json.load(answer)}

    def seconds_of(job):
        def parse(text):
            return dt.datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
        if not job.get("completionTime"):
            return float("nan")
        return (parse(job["completionTime"]) - parse(job["submissionTime"])).total_seconds()

    jobs_of_run = [described[i] for i in ids if i in described]
    print(f"{manifest.n_input} photos, {seconds:.1f} s, {len(ids)} Spark jobs, "
          f"{sum(job['numTasks'] for job in jobs_of_run)} tasks, {sum(map(seconds_of, jobs_of_run)):.1f} s in jobs "
          f"(some overlap); load average {os.getloadavg()[0]:.1f}")
    print(f"timings_s: {manifest.timings_s}")
    print("| job | tasks | s | what |\n| ---: | ---: | ---: | --- |")
    for job in jobs_of_run:
        what = (job.get("description") or job.get("name") or "").splitlines()[0][:90]
        print(f"| {job['jobId']} | {job['numTasks']} | {seconds_of(job):.2f} | {what} |")
    spark.stop()


def synthetic_features(rows: int) -> Path:
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fruits.model import FEATURE_DIM

    folder = Path(tempfile.mkdtemp(prefix="fruits-pca-lever-"))
    generator = np.random.default_rng(0)
    basis = generator.normal(size=(32, FEATURE_DIM))
    for part, count in enumerate(np.diff(np.linspace(0, rows, 5).astype(int))):
        x = generator.normal(size=(count, 32)) @ basis + generator.normal(scale=0.5, size=(count, FEATURE_DIM))
        x = np.clip(x, 0, 6).astype(np.float32)  # ReLU6, as the backbone's last activation
        table = pa.table({"features": pa.FixedSizeListArray.from_arrays(x.ravel(), FEATURE_DIM).cast(
            pa.list_(pa.float32()))})
        pq.write_table(table, folder / f"part-{part}.parquet")
    return folder


def pca(args) -> None:
    """Spark ML's PCA (StandardScaler + PCA, the first version) against `fruits.spark.pca.fit_pca`.

    Features: a run's features/ (`--features DIR`), else `--rows` synthetic ones shaped like the CNN's
    (non-negative, about half exact zeros, a few strong directions) written to 4 Parquet files.
    Both fits are timed in the same warmed session (local[2]), twice each, after an untimed pass that reads the
    Parquet once; the spectra and the axes are compared.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import array_to_vector

    from fruits.model import FEATURE_DIM
    from fruits.spark.pca import fit_pca
    from fruits.spark.session import build_spark_session

    spark = build_spark_session("local[2]", "fruits pca lever")
    if args.features is None:
        args.features = synthetic_features(args.rows)
    features = spark.read.parquet(str(args.features))
    n = features.count()

    def spark_ml():
        vectors = features.select(array_to_vector("features").alias("vector"))
        model = Pipeline(stages=[
            StandardScaler(withMean=True, withStd=False, inputCol="vector", outputCol="centred"),
            PCA(k=FEATURE_DIM, inputCol="centred", outputCol="components"),
        ]).fit(vectors)
        pca_model = model.stages[1]
        return np.asarray(pca_model.explainedVariance.toArray()), np.asarray(pca_model.pc.toArray())

    def ours():
        fit = fit_pca(features, FEATURE_DIM, 0.95, k=FEATURE_DIM)
        return fit.projection.explained_variance_ratio, fit.projection.components

    print(f"{n} x {FEATURE_DIM} features, local[2]")
    print("| PCA fit | run 1 s | run 2 s |\n| --- | ---: | ---: |")
    results = {}
    for name, function in (("pyspark.ml StandardScaler + PCA", spark_ml), ("executors' moments + numpy eigh", ours)):
        times = []
        for _ in range(2):
            started = time.perf_counter()
            results[name] = function()
            times.append(time.perf_counter() - started)
        print(f"| {name} | {times[0]:.1f} | {times[1]:.1f} |", flush=True)
    (spectrum_a, axes_a), (spectrum_b, axes_b) = results.values()
    cosines = np.abs(np.sum(axes_a[:, :20] * axes_b[:, :20], axis=0))
    print(f"spectra: max abs diff {np.abs(spectrum_a - spectrum_b).max():.1e}; first 20 axes: "
          f"min |cos| {cosines.min():.6f}")
    spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("inference", "decode", "openvino", "peak", "stage", "profile", "pca",
                                         "listing", "jobs"))
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--features", type=Path, help="pca: the features/ folder of a fruits run")
    parser.add_argument("--limit", type=int, help="profile: only the first N photos")
    parser.add_argument("--rounds", type=int, default=1, help="profile: run the steps this many times in turn")
    parser.add_argument("--steps", help="profile: only these steps, e.g. 4,4w,5,5'")
    parser.add_argument("--no-baseline", action="store_true", help="profile: skip the measurement without Spark")
    parser.add_argument("--rows", type=int, default=14820, help="pca: synthetic feature rows (no --features)")
    args = parser.parse_args()
    {"inference": inference, "decode": decode, "openvino": openvino, "peak": peak, "stage": stage,
     "profile": profile, "pca": pca, "listing": listing, "jobs": jobs}[args.what](args)


if __name__ == "__main__":
    main()
