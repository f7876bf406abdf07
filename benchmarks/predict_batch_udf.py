"""What a Spark user would write instead of `fruits run`: Spark's `predict_batch_udf` with the same Keras model.

    python benchmarks/predict_batch_udf.py IMAGES WEIGHTS OUTPUT [--image-size 224] [--batch-size 32]

Written the way `pyspark.ml.functions.predict_batch_udf` is documented (its docstring and its tests): a
`make_predict_fn` that loads the model once per Python worker and returns `predict(inputs) -> model.predict`,
and the images handed over as a flattened tensor column (`array<float>`) with `input_tensor_shapes`, the only
kind of image input that function takes. The decoding is the same Pillow code as everywhere else here
(`fruits.images.decode_and_resize`) followed by MobileNetV2's scaling to [-1, 1], as in the Keras loop.

Made fair where the docs leave a choice open:
- the same Spark settings as `fruits run` for the photos (Arrow on, reused Python workers, ~2 tasks per core);
- one TensorFlow thread per Python worker: one Spark task slot is one core, so the two workers of `local[2]`
  do not fight over the cores (the Keras loop, alone in its process, has both);
- `batch_size=32` (the Keras loop's), and Arrow batches of 64 rows: a 224 px float tensor is 600 KB, Spark's
  default of 10,000 rows per Arrow batch would be 6 GB per batch.
The features (path, features) are written to Parquet like `features/` of a run. Prints one JSON line: images,
featurize_s (from the first file read to the Parquet written; Spark's start is not in it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd  # pandas UDF type hints are resolved from module globals

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_predict_fn(weights: str, image_size: int, batch_size: int):
    """The model-loading function of predict_batch_udf: called once per Python worker, the model is cached."""

    def predict_batch_fn():
        import tensorflow as tf

        # One task slot, one core (the Python worker cannot change it later: TensorFlow's pools start here).
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras

        model = keras.applications.MobileNetV2(input_shape=(image_size, image_size, 3), include_top=False,
                                               weights=None, pooling="avg")
        model.load_weights(weights)

        def predict(inputs: np.ndarray) -> np.ndarray:
            return model.predict(inputs, batch_size=batch_size, verbose=0)

        return predict

    return predict_batch_fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("weights", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--arrow-batch-rows", type=int, default=64)
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()

    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    from fruits.spark.discover import IMAGE_GLOB
    from fruits.spark.session import build_spark_session

    size = args.image_size
    spark = build_spark_session(args.master, "predict_batch_udf benchmark")
    parallelism = spark.sparkContext.defaultParallelism
    for key, value in {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(args.arrow_batch_rows),
        "spark.sql.files.openCostInBytes": str(1024 * 1024),
        "spark.sql.files.maxPartitionBytes": str(1024**3),
        "spark.sql.files.minPartitionNum": str(2 * parallelism),
    }.items():
        spark.conf.set(key, value)

    @pandas_udf(ArrayType(FloatType()))
    def to_tensor(contents: pd.Series) -> pd.Series:
        """JPEG bytes -> the model's input, flattened (predict_batch_udf takes tensors as 1-D arrays)."""
        from fruits.images import decode_and_resize

        pixels = np.stack([decode_and_resize(blob, size) for blob in contents]).astype(np.float32)
        # keras.applications.mobilenet_v2.preprocess_input, written out: these workers need no TensorFlow.
        scaled = pixels / 127.5 - 1.0
        return pd.Series(list(scaled.reshape(len(contents), -1)))

    mobilenet = predict_batch_udf(
        make_predict_fn(str(args.weights.resolve()), size, args.batch_size),
        return_type=ArrayType(FloatType()),
        batch_size=args.batch_size,
        input_tensor_shapes=[[size, size, 3]],
    )
    files = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
             .option("pathGlobFilter", IMAGE_GLOB).load(str(args.images)))
    started = time.monotonic()
    features = files.select("path", mobilenet(to_tensor("content")).alias("features"))
    features.write.mode("overwrite").parquet(str(args.output))
    seconds = time.monotonic() - started
    images = spark.read.parquet(str(args.output)).count()
    spark.stop()
    print(json.dumps({"images": images, "featurize_s": seconds}))


if __name__ == "__main__":
    main()
