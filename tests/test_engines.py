"""Engines agree with a plain Keras model, and a worker builds its predictor once per job key."""

import shutil

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
def litert_cache(weights, tmp_path_factory):
    """The module's one LiteRT conversion of `weights`, into an empty cache folder: (folder, flatbuffer). Each
    conversion runs TensorFlow's converter (about 20 s of CI); the tests that need a converted model share this
    one, and test_litert_conversion_is_cached_by_weights_digest checks what it left in the folder."""
    folder = tmp_path_factory.mktemp("litert-cache")
    return folder, prepare_payload("litert", weights, SIZE, cache_dir=str(folder))


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
def test_engine_matches_plain_keras(engine, weights, pixels, litert_cache):
    payload = prepare_payload(engine, weights, SIZE, cache_dir=str(litert_cache[0]))
    spec = EngineSpec(engine, SIZE, weights.sha256 + engine, threads=1)
    features = load_predictor(spec, lambda: payload).predict(pixels)
    reference = plain_keras_features(weights, pixels)
    assert features.shape == (5, 1280) and features.dtype == np.float32
    assert np.abs(features - reference).max() <= 1e-4


def test_predictor_is_built_once_per_key_and_payload_read_only_on_a_miss(weights, litert_cache):
    payload = litert_cache[1]
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


def test_litert_conversion_is_cached_by_weights_digest(weights, litert_cache, tmp_path):
    folder, first = litert_cache  # converted into an empty folder
    cached = list(folder.iterdir())
    assert len(cached) == 1 and weights.sha256[:16] in cached[0].name
    assert cached[0].read_bytes() == first
    # A second call reads the file instead of converting again: in a copy of the folder whose file holds other
    # bytes, it returns those bytes.
    copy = tmp_path / "cache"
    shutil.copytree(folder, copy)
    (copy / cached[0].name).write_bytes(b"what the cache holds")
    assert prepare_payload("litert", weights, SIZE, cache_dir=str(copy)) == b"what the cache holds"


def test_unknown_engine_is_refused(weights):
    with pytest.raises(UsageError, match="--engine"):
        prepare_payload("onnx", weights, SIZE)
