"""Engines agree with a plain Keras model, and a worker builds its predictor once per job key."""

import numpy as np
import pytest

from fruits import engines
from fruits.engines import EngineSpec, load_predictor, prepare_payload
from fruits.errors import UsageError
from fruits.model import WeightsSpec, load_weights

SIZE = 64


@pytest.fixture(scope="module")
def weights():
    return load_weights(WeightsSpec.parse("random:11"), SIZE)


@pytest.fixture(scope="module")
def pixels():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, SIZE, SIZE, 3), dtype=np.uint8)


def plain_keras_features(weights, pixels):
    """The textbook way: keras.applications with preprocess_input on floats, no fruits code involved."""
    import keras

    model = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), include_top=False, weights=None, pooling="avg")
    model.set_weights(weights.arrays)
    return model.predict_on_batch(keras.applications.mobilenet_v2.preprocess_input(pixels.astype("float32")))


@pytest.mark.parametrize("engine", ["keras", "litert"])
def test_engine_matches_plain_keras(engine, weights, pixels, tmp_path):
    payload = prepare_payload(engine, weights, SIZE, cache_dir=str(tmp_path))
    spec = EngineSpec(engine, SIZE, weights.sha256 + engine, threads=1)
    features = load_predictor(spec, lambda: payload).predict(pixels)
    reference = plain_keras_features(weights, pixels)
    assert features.shape == (5, 1280) and features.dtype == np.float32
    assert np.abs(features - reference).max() <= 1e-4


def test_predictor_is_built_once_per_key_and_payload_read_only_on_a_miss(weights, tmp_path):
    payload = prepare_payload("litert", weights, SIZE, cache_dir=str(tmp_path))
    reads = []

    def read_payload():
        reads.append(1)
        return payload

    spec = EngineSpec("litert", SIZE, "once-" + weights.sha256)
    before = engines.build_count()
    first = load_predictor(spec, read_payload)
    for _ in range(3):
        assert load_predictor(spec, read_payload) is first
    assert engines.build_count() - before == 1 and len(reads) == 1
    other = EngineSpec("litert", SIZE, "other-" + weights.sha256)
    assert load_predictor(other, read_payload) is not first
    assert engines.build_count() - before == 2


def test_litert_conversion_is_cached_by_weights_digest(weights, tmp_path):
    first = prepare_payload("litert", weights, SIZE, cache_dir=str(tmp_path))
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1 and weights.sha256[:16] in cached[0].name
    assert prepare_payload("litert", weights, SIZE, cache_dir=str(tmp_path)) == first


def test_unknown_engine_is_refused(weights):
    with pytest.raises(UsageError, match="--engine"):
        prepare_payload("onnx", weights, SIZE)
