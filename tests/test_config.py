import pytest

from fruits.config import build_run_config, read_config_file
from fruits.errors import UsageError

BASE = {"inputs": ["in"], "output": "out"}


def test_defaults():
    config = build_run_config(BASE, env={})
    assert (config.weights, config.image_size, config.variance, config.k, config.master, config.engine) == (
        "imagenet", 224, 0.95, None, None, "litert")


def test_flags_beat_env_beat_file(tmp_path):
    path = tmp_path / "fruits.toml"
    path.write_text('[run]\nimage_size = 128\nweights = "random:1"\nmaster = "local[1]"\n')
    file_values = read_config_file(str(path), "run")
    env = {"FRUITS_IMAGE_SIZE": "160", "FRUITS_WEIGHTS": "random:2"}
    config = build_run_config({**BASE, "image_size": 96}, env=env, file_values=file_values)
    assert config.image_size == 96  # flag
    assert config.weights == "random:2"  # env over file
    assert config.master == "local[1]"  # file over default


@pytest.mark.parametrize(
    "flags, env, message",
    [
        ({"image_size": 8}, {}, "--image-size"),
        ({"image_size": 5000}, {}, "--image-size"),
        ({"variance": 0.0}, {}, "--variance"),
        ({"variance": 1.5}, {}, "--variance"),
        ({"k": 0}, {}, "--k"),
        ({"k": 2000}, {}, "--k"),
        ({"batch_size": 0}, {}, "--batch-size"),
        ({"engine": "torch"}, {}, "--engine"),
        ({"weights": "random:abc"}, {}, "--weights"),
        ({"weights": " "}, {}, "--weights"),
        ({"master": " "}, {}, "--master"),
        ({}, {"FRUITS_IMAGE_SIZE": "big"}, "FRUITS_IMAGE_SIZE"),
        ({"inputs": [""]}, {}, "INPUT"),
        ({"inputs": []}, {}, "no INPUT"),
        ({"inputs": ["a", " "]}, {}, "INPUT is empty"),
        ({"feature_layer": "out_relu"}, {}, "--feature-layer"),
        ({}, {"FRUITS_FEATURE_LAYER": "middle"}, "--feature-layer"),
        ({"feature_layer": "bottleneck", "k": 321}, {}, "from 1 to 320 .the width of --feature-layer bottleneck"),
        ({"reference_views": ["elsewhere"]}, {}, "--reference-views 'elsewhere' is not one of the INPUTs"),
        ({"reference_views": ["in/Training"]}, {}, "--reference-views"),  # inside an INPUT is not one
        ({"reference_views": ["s3://bucket/in"]}, {}, "--reference-views"),
    ],
)
def test_bad_values_are_refused_with_the_flag_named(flags, env, message):
    with pytest.raises(UsageError, match=message):
        build_run_config({**BASE, **flags}, env=env)


def test_config_file_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        read_config_file(str(tmp_path / "missing.toml"), "run")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\n")
    with pytest.raises(UsageError, match="cannot read"):
        read_config_file(str(bad), "run")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[run]\nimgsize = 3\n")
    with pytest.raises(UsageError, match="unknown key"):
        build_run_config(BASE, env={}, file_values=read_config_file(str(unknown), "run"))


def test_the_feature_layer_sets_the_width_of_the_features():
    assert build_run_config(BASE, env={}).feature_dim == 1280
    config = build_run_config({**BASE, "feature_layer": "bottleneck", "k": 320}, env={})
    assert (config.feature_layer, config.feature_dim, config.k) == ("bottleneck", 320, 320)


@pytest.mark.parametrize("spelling", ["shop", "shop/", "./shop", "{cwd}/shop", "file://{cwd}/shop"])
def test_reference_views_name_an_input_however_it_is_spelt(spelling, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    flags = {"inputs": ["studio", "shop"], "output": "out", "reference_views": [spelling.format(cwd=tmp_path)]}
    config = build_run_config(flags, env={})
    assert config.reference_view_indices == (1,)
    assert build_run_config({**flags, "reference_views": None}, env={}).reference_view_indices == ()


def test_reference_views_from_a_config_file_one_or_several(tmp_path):
    path = tmp_path / "fruits.toml"
    flags = {"inputs": ["s3://b/studio/", "s3://b/shop"], "output": "s3://b/out"}
    path.write_text('[run]\nreference_views = "s3://b/shop/"\n')
    assert build_run_config(flags, env={}, file_values=read_config_file(str(path), "run")).reference_view_indices \
        == (1,)
    path.write_text('[run]\nreference_views = ["s3://b/shop", "s3://b/studio"]\n')
    config = build_run_config(flags, env={}, file_values=read_config_file(str(path), "run"))
    assert config.reference_view_indices == (0, 1)
    assert build_run_config({**flags, "reference_views": ["s3://b/studio"]}, env={},
                            file_values=read_config_file(str(path), "run")).reference_view_indices == (0,)  # flag wins
