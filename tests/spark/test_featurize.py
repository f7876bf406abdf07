"""Spark featurization equals a plain single-process Keras predict, and builds the model once per worker."""

import numpy as np
import pandas as pd
import pytest

from fruits.engines import EngineSpec, prepare_payload
from fruits.images import ImageLimits, decode_and_resize
from fruits.model import WeightsSpec, load_weights
from fruits.spark.discover import load_files, readable_photos
from fruits.spark.featurize import FeaturizeCounters, featurize_images, make_featurize_udf
from fruits.storage import local_path

SIZE = 96


def keras_reference(weights, paths):
    """Plain Keras, one process: Pillow decode (the same preprocessing), preprocess_input, predict."""
    import keras

    model = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), include_top=False, weights=None, pooling="avg")
    model.set_weights(weights.arrays)
    pixels = []
    for path in paths:
        with open(local_path(path), "rb") as handle:
            pixels.append(decode_and_resize(handle.read(), SIZE))
    batch = keras.applications.mobilenet_v2.preprocess_input(np.stack(pixels).astype("float32"))
    return model.predict(batch, batch_size=16, verbose=0)


@pytest.fixture(scope="module")
def weights():
    return load_weights(WeightsSpec.parse("random:3"), SIZE)


def featurize(spark, photos, weights, engine, arrow_rows=512, partitions=None, counters=None):
    payload = prepare_payload(engine, weights, SIZE)
    broadcast = spark.sparkContext.broadcast(payload)
    spec = EngineSpec(engine, SIZE, weights.sha256, threads=1, batch_size=8)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(arrow_rows))
    images = readable_photos(load_files(spark, f"file://{photos}"), ImageLimits().max_bytes)
    if partitions:
        images = images.repartition(partitions)
    counters = counters or FeaturizeCounters(spark)
    udf = make_featurize_udf(spec, broadcast, ImageLimits(), counters)
    rows = featurize_images(images, udf).toPandas()  # test-sized data only
    broadcast.destroy()
    return rows.sort_values("path").reset_index(drop=True)


@pytest.mark.parametrize("engine", ["litert", "keras"])
def test_spark_features_equal_plain_keras(spark, synthetic_photos, weights, engine):
    rows = featurize(spark, synthetic_photos, weights, engine)
    assert rows["error"].isna().all()
    features = np.stack(rows["features"].to_numpy())
    reference = keras_reference(weights, rows["path"])
    assert features.shape == (40, 1280)
    assert np.abs(features - reference).max() <= 1e-4


def test_run_output_features_equal_plain_keras(spark, synthetic_run, weights):
    """The pipeline's own features/ output (default engine) matches too."""
    rows = pd.read_parquet(synthetic_run / "features").sort_values("path")
    reference = keras_reference(weights, rows["path"])
    assert np.abs(np.stack(rows["features"].to_numpy()) - reference).max() <= 1e-4


def test_model_is_built_once_per_python_worker_not_per_batch_or_task(spark, synthetic_photos):
    # Fresh weights = a fresh job key, so no worker has this model cached yet.
    weights = load_weights(WeightsSpec.parse("random:12345"), SIZE)
    counters = FeaturizeCounters(spark)
    # 8 partitions (tasks) of 5 photos, Arrow batches of 2 rows: 24 batches on local[2]'s two workers.
    rows = featurize(spark, synthetic_photos, weights, "litert", arrow_rows=2, partitions=8, counters=counters)
    counts = counters.as_dict()
    assert len(rows) == 40
    assert counts["arrow_batches"] >= 20
    assert 1 <= counts["model_builds"] <= 2  # one per Python worker (local[2] runs two)
    # Each Arrow batch of 2 photos is one inference call (batch size 8 > 2).
    assert counts["inference_calls"] == counts["arrow_batches"]
