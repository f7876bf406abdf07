"""Isolated measurements behind docs/performance.md (the Spark-side levers are `make bench` runs).

    python benchmarks/levers.py inference   # LiteRT and TensorFlow images/s per batch size and thread count
    python benchmarks/levers.py decode      # where the 0.5 ms of Pillow decoding goes; JPEG draft on a big photo
    python benchmarks/levers.py peak        # single-core fp32 peak (TensorFlow/oneDNN matmul), for the limit
    python benchmarks/levers.py stage       # the featurize stage of the job under different Spark settings

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("inference", "decode", "peak", "stage"))
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    {"inference": inference, "decode": decode, "peak": peak, "stage": stage}[args.what](args)


if __name__ == "__main__":
    main()
