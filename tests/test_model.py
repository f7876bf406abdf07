import pytest

from fruits.errors import UsageError, WeightsError
from fruits.model import WeightsSpec, load_weights, validate_image_size, weights_sha256


@pytest.mark.parametrize(
    "text, kind, location, seed",
    [
        ("imagenet", "imagenet", None, 0),
        ("auto", "auto", None, 0),
        ("random", "random", None, 0),
        ("random:42", "random", None, 42),
        ("/models/w.weights.h5", "file", "/models/w.weights.h5", 0),
        ("s3://bucket/m.weights.h5", "file", "s3://bucket/m.weights.h5", 0),
    ],
)
def test_weights_spec_parsing(text, kind, location, seed):
    spec = WeightsSpec.parse(text)
    assert (spec.kind, spec.location, spec.seed) == (kind, location, seed)


@pytest.mark.parametrize("bad", ["random:", "random:x", "randomly", ""])
def test_bad_weights_specs(bad):
    with pytest.raises(UsageError, match="--weights"):
        WeightsSpec.parse(bad)


def test_random_weights_are_reproducible_and_digested():
    a = load_weights(WeightsSpec.parse("random:5"), 32)
    b = load_weights(WeightsSpec.parse("random:5"), 32)
    c = load_weights(WeightsSpec.parse("random:6"), 32)
    assert a.sha256 == b.sha256 == weights_sha256(b.arrays) and a.sha256 != c.sha256
    assert a.nbytes > 8_000_000  # MobileNetV2's 2.2 M parameters as float32


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: str(tmp / "missing.weights.h5"), "not found"),
        (lambda tmp: (tmp / "junk.weights.h5").write_bytes(b"not hdf5") and str(tmp / "junk.weights.h5"),
         "does not fit"),
    ],
)
def test_unreadable_weights_files(tmp_path, make, message):
    with pytest.raises(WeightsError, match=message):
        load_weights(WeightsSpec.parse(make(tmp_path)), 32)


def test_shared_pretrained_weights_load(shared_weights):
    loaded = load_weights(WeightsSpec.parse(str(shared_weights)), 96)
    assert loaded.file_sha256 == "b5c304ecf01494f614fd05d36a075cb14f45d054af9af5ef17092bbf870e8e2f"


def test_imagenet_without_internet_says_what_to_do(monkeypatch, tmp_path):
    # Point Keras at an empty cache and an unreachable origin: the loader must explain the way out.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import keras.src.utils.file_utils as file_utils

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(file_utils, "get_file", offline)
    import keras.src.applications.mobilenet_v2 as mobilenet_v2

    monkeypatch.setattr(mobilenet_v2.file_utils, "get_file", offline)
    with pytest.raises(WeightsError, match="--weights PATH_OR_S3_URI"):
        load_weights(WeightsSpec.parse("imagenet"), 96)
    auto = load_weights(WeightsSpec.parse("auto"), 96)
    assert auto.source == "auto->random:0" and "RANDOM" in auto.warning


def test_image_size_bounds():
    assert validate_image_size(224) == 224
    for bad in (16, 1000, "224"):
        with pytest.raises(UsageError):
            validate_image_size(bad)


def test_a_weights_file_seen_before_is_known_by_its_bytes(shared_weights, tmp_path, monkeypatch):
    """The second load of the same bytes takes the arrays' digest from the cache and loads the arrays only when
    asked, the same ones; a remembered digest that lies is caught when the arrays are loaded."""
    import json

    import numpy as np

    monkeypatch.setenv("FRUITS_CACHE_DIR", str(tmp_path))
    spec = WeightsSpec.parse(str(shared_weights))
    first = load_weights(spec, 32)
    again = load_weights(spec, 32)
    assert (again.sha256, again.nbytes, again.file_sha256) == (first.sha256, first.nbytes, first.file_sha256)
    assert "arrays" not in vars(again)  # not loaded yet
    assert all(np.array_equal(a, b) for a, b in zip(again.arrays, first.arrays, strict=True))
    (remembered,) = (tmp_path / "weights").iterdir()
    remembered.write_text(json.dumps({"sha256": "0" * 64, "nbytes": 1}))
    stale = load_weights(spec, 32)
    with pytest.raises(WeightsError, match="not the ones remembered"):
        stale.arrays


def test_a_cached_litert_model_needs_no_tensorflow_on_the_driver(shared_weights, tmp_path, monkeypatch):
    """A driver that has seen these weights and converted them before imports neither TensorFlow nor Keras
    (seconds of every run's start): a fresh Python loads the weights and the LiteRT payload without them."""
    import os
    import subprocess
    import sys

    from fruits.engines import prepare_payload

    monkeypatch.setenv("FRUITS_CACHE_DIR", str(tmp_path))
    loaded = load_weights(WeightsSpec.parse(str(shared_weights)), 32)
    payload = prepare_payload("litert", loaded, 32)  # converted and cached here, with TensorFlow
    code = ("import sys; from fruits.model import WeightsSpec, load_weights; from fruits.engines import "
            "prepare_payload; w = load_weights(WeightsSpec.parse(sys.argv[1]), 32); "
            "p = prepare_payload('litert', w, 32); "
            "print(w.sha256, len(p), 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(shared_weights)], capture_output=True, text=True,
                          env={**os.environ, "FRUITS_CACHE_DIR": str(tmp_path)}, check=True)
    assert done.stdout.split() == [loaded.sha256, str(len(payload)), "False", "False"]


@pytest.mark.parametrize("layer", ["top", "bottleneck"])
def test_a_feature_layer_is_the_backbone_layer_averaged(layer):
    """The bottleneck's features are the average of that layer of the same backbone (the top's are Keras's own
    pooling): what benchmarks/identify_layers.py measured is what a run would compute."""
    import keras
    import numpy as np

    from fruits.model import FEATURE_LAYERS, build_backbone, build_feature_model, feature_dim

    weights = load_weights(WeightsSpec.parse("random:3"), 64).arrays
    pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    features = np.asarray(build_feature_model(64, weights, layer).predict(pixels, verbose=0))
    assert features.shape == (2, feature_dim(layer))
    backbone = build_backbone(64)
    backbone.set_weights(weights)
    inner = keras.Model(backbone.input, backbone.get_layer(FEATURE_LAYERS[layer][0]).output)
    expected = np.asarray(inner.predict(pixels.astype(np.float32) / 127.5 - 1.0, verbose=0)).mean(axis=(1, 2))
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", ["", "Top", "out_relu", "block_16_project_BN", None])
def test_bad_feature_layers_are_refused(bad):
    from fruits.model import feature_dim

    with pytest.raises(UsageError, match="--feature-layer"):
        feature_dim(bad)
