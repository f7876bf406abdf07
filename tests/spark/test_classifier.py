"""The classify stage of `fruits run` (fruits.spark.classifier): logistic regression on pca/ (on the driver, or by
pyspark.ml when the references are many), each input weighing the same, so a small input of real photos is heard
beside a big studio one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fruits.classify import LinearModel
from fruits.evaluation import sources_of
from fruits.spark.classifier import (DRIVER_FIT_MAX_VALUES, fit_classifier, group_weights, named_sources,
                                    per_input_of, reference_counts, references_of, with_weights)
from fruits.spark.hadoop_fs import HadoopFS


@pytest.mark.parametrize("inputs, paths, expected", [
    (["file:///d/studio", "file:///d/shop photos"],
     ["file:/d/studio/Training/a/1.jpg", "file:/d/shop photos/Training/b/2.jpg", "/d/shop photos/x.jpg",
      "file:/elsewhere/3.jpg"], ["studio", "shop photos", "shop photos", "other"]),
    (["file:///d/both/"],  # one INPUT: its first folders are the inputs
     ["file:/d/both/fruits-360/Training/a/1.jpg", "file:/d/both/grocery/Test/b/2.jpg", "file:/d/both/top.jpg"],
     ["fruits-360", "grocery", "(top folder)"]),
    (["s3a://bucket/a", "s3a://bucket/ab"], ["s3a://bucket/ab/Training/x/1.jpg", "s3a://bucket/a/Training/x/1.jpg"],
     ["ab", "a"]),
])
def test_sources_are_named_from_the_paths_and_the_inputs(inputs, paths, expected):
    assert sources_of(paths, inputs) == expected


def _pca_table(spark, path, rows):
    """Write a pca/-shaped Parquet table (path, label, split, pca) of `rows`."""
    frame = spark.createDataFrame([(p, label, split, [float(v) for v in x]) for p, label, split, x in rows],
                                  "path string, label string, split string, pca array<float>")
    frame.coalesce(1).write.parquet(str(path))
    return path.as_uri()


def _studio_and_shop(n_studio=40, n_shop=4, seed=0):
    """Both inputs show the same spot (0, 0): the studio calls it Apple 40 times, the shop Pear 4 times. A third
    label far away (Lemon, studio) makes the studio input bigger still."""
    rng = np.random.default_rng(seed)
    rows = [(f"file:/d/studio/Training/Apple/{i}.jpg", "Apple", "Training", rng.normal(0, 0.3, 2))
            for i in range(n_studio)]
    rows += [(f"file:/d/studio/Training/Lemon/{i}.jpg", "Lemon", "Training", rng.normal(5, 0.3, 2))
             for i in range(n_studio)]
    rows += [(f"file:/d/shop/Training/Pear/{i}.jpg", "Pear", "Training", rng.normal(0, 0.3, 2)) for i in range(n_shop)]
    rows += [(f"file:/d/shop/Test/Pear/{i}.jpg", "Pear", "Test", rng.normal(9, 0.3, 2)) for i in range(3)]
    return rows


COUNTS = {("studio", "Apple"): 40, ("studio", "Lemon"): 40, ("shop", "Pear"): 4, ("shop", "Apple"): 16}


@pytest.mark.parametrize("weighting, expected", [
    ("none", {("studio", "Apple"): 1.0, ("studio", "Lemon"): 1.0, ("shop", "Pear"): 1.0, ("shop", "Apple"): 1.0}),
    # 100 photos, two inputs of 50: a studio photo 50/80, a shop photo 50/20
    ("input", {("studio", "Apple"): 0.625, ("studio", "Lemon"): 0.625, ("shop", "Pear"): 2.5, ("shop", "Apple"): 2.5}),
    # three labels of 100/3: Apple (56 photos) 100/(3*56), Lemon 100/(3*40), Pear 100/(3*4)
    ("label", {("studio", "Apple"): 100 / 168, ("studio", "Lemon"): 100 / 120, ("shop", "Pear"): 100 / 12,
               ("shop", "Apple"): 100 / 168}),
    # each input 50, each of its two labels 25
    ("input-label", {("studio", "Apple"): 25 / 40, ("studio", "Lemon"): 25 / 40, ("shop", "Pear"): 25 / 4,
                     ("shop", "Apple"): 25 / 16}),
])
def test_group_weights_average_one_and_balance_what_they_say(weighting, expected):
    weights = group_weights(COUNTS, weighting)
    assert weights == pytest.approx(expected)
    assert sum(weights[g] * n for g, n in COUNTS.items()) == pytest.approx(sum(COUNTS.values()))


def test_each_input_has_the_same_total_weight(spark, tmp_path):
    uri = _pca_table(spark, tmp_path / "pca", _studio_and_shop())
    named = named_sources(spark.read.parquet(uri), ["file:///d/studio", "file:///d/shop"])
    training, counts = references_of(reference_counts(named))
    assert training and per_input_of(counts) == {"studio": 80, "shop": 4}  # the Test photos are not references
    classes = sorted({label for _, label in counts})
    got = with_weights(named.where("split = 'Training'"), counts, "input", classes).toPandas()
    assert len(got) == 84
    per_source = got.groupby(got["path"].str.contains("/shop/"))["w"].agg(["sum", "nunique"])
    np.testing.assert_allclose(per_source["sum"], [42.0, 42.0])  # 84 photos, two inputs: 42 each
    assert list(per_source["nunique"]) == [1, 1] and got["w"].mean() == pytest.approx(1.0)
    # y is the label's index in alphabetical order, as StringIndexer's alphabetAsc numbers them
    assert (got["y"] == got["label"].map({label: float(i) for i, label in enumerate(classes)})).all()


@pytest.mark.parametrize("counts, expected", [
    ({("Training", "a", "Apple"): 3, ("Test", "a", "Apple"): 2, ("Training", "b", "Pear"): 1},
     (True, {("a", "Apple"): 3, ("b", "Pear"): 1})),
    ({(None, "a", "Apple"): 3, (None, "b", "Pear"): 1}, (False, {("a", "Apple"): 3, ("b", "Pear"): 1})),
    # photos outside Training/Test next to a Training folder are not references
    ({("Training", "a", "Apple"): 3, (None, "a", "Pear"): 4}, (True, {("a", "Apple"): 3})),
])
def test_the_references_are_the_training_photos_when_there_are_some(counts, expected):
    assert references_of(counts) == expected


def _fit(spark, tmp_path, name, inputs, weighting):
    uri = _pca_table(spark, tmp_path / f"pca-{name}", _studio_and_shop())
    folder = (tmp_path / f"classifier-{name}").as_uri()
    info = fit_classifier(spark, uri, folder, HadoopFS(spark), inputs=inputs, weighting=weighting)
    model = LinearModel.from_dict(json.loads((tmp_path / f"classifier-{name}" / "model.json").read_text()))
    return info, model


def test_weighting_by_input_lets_a_small_input_of_real_photos_be_heard(spark, tmp_path):
    inputs = ["file:///d/studio", "file:///d/shop"]
    plain, plain_model = _fit(spark, tmp_path, "none", inputs, "none")
    by_input, weighted_model = _fit(spark, tmp_path, "input", inputs, "input")
    assert (plain.weighting, plain.references_per_input) == ("none", {"shop": 4, "studio": 80})
    assert (by_input.weighting, by_input.references_per_input) == ("input", {"shop": 4, "studio": 80})
    assert by_input.n_references == plain.n_references == 84  # Training photos only
    spot = np.zeros((1, 2))
    pear = weighted_model.classes.index("Pear")
    # Unweighted, 4 Pear photos against 40 Apple at the same spot: Pear is about 4/44. Each input weighing 42, an
    # Apple photo weighs 42/80 and a Pear photo 42/4: Pear about 42/(42 + 21), the most likely at the spot.
    assert plain_model.probabilities(spot)[0, pear] < 0.2
    assert 0.5 < weighted_model.probabilities(spot)[0, pear] < 0.8
    assert weighted_model.about["weighting"] == "input"


def test_one_input_is_fitted_unweighted(spark, tmp_path):
    info, _ = _fit(spark, tmp_path, "one", ["file:///d"], "input")  # studio/ and shop/ are first folders of /d
    assert info.weighting == "input" and info.references_per_input == {"shop": 4, "studio": 80}
    rows = [(p.replace("/shop/", "/studio/"), label, split, x) for p, label, split, x in _studio_and_shop()]
    uri = _pca_table(spark, tmp_path / "pca-single", rows)
    single = fit_classifier(spark, uri, (tmp_path / "c-single").as_uri(), HadoopFS(spark), inputs=["file:///d"],
                            weighting="input")
    assert single.weighting == "none" and single.references_per_input == {"studio": 84}


def test_an_unknown_weighting_is_refused(spark, tmp_path):
    with pytest.raises(ValueError, match="unknown weighting"):
        fit_classifier(spark, (tmp_path / "pca").as_uri(), (tmp_path / "c").as_uri(), HadoopFS(spark),
                       weighting="by-colour")


@pytest.mark.parametrize("standardization", [True, False])
def test_without_standardization_the_penalty_falls_on_the_raw_coefficients(spark, tmp_path, standardization):
    """Two labels told apart by a coordinate of tiny spread (the second, x 0.001) beside one that says nothing.
    Standardised, the tiny coordinate weighs like any other and the labels are told apart; on the raw scale its
    coefficient must be a thousand times larger, which the L2 penalty forbids: the fit hardly uses it."""
    rng = np.random.default_rng(1)
    rows = [(f"file:/d/a/Training/{label}/{i}.jpg", label, "Training",
             [rng.normal(0, 1.0), 0.001 * (sign + rng.normal(0, 0.3))])
            for label, sign in (("Apple", -1.0), ("Pear", 1.0)) for i in range(30)]
    uri = _pca_table(spark, tmp_path / "pca", rows)
    folder = tmp_path / "classifier"
    info = fit_classifier(spark, uri, folder.as_uri(), HadoopFS(spark), regularisation=0.1,
                          standardization=standardization)
    model = LinearModel.from_dict(json.loads((folder / "model.json").read_text()))
    assert info.standardization is standardization and model.about["standardization"] is standardization
    pear = model.probabilities(np.asarray([[0.0, 0.001]]))[0, model.classes.index("Pear")]
    assert (pear > 0.75) if standardization else (0.45 < pear < 0.55), pear


@pytest.mark.parametrize("weighting, standardization", [("input", True), ("none", False)])
def test_the_driver_and_pyspark_ml_fit_the_same_classifier(spark, tmp_path, weighting, standardization):
    """The same references fitted on the driver (fruits.logistic) and by pyspark.ml on the executors (a limit of 0
    values sends them there): one objective, strictly convex, so one model."""
    uri = _pca_table(spark, tmp_path / "pca", _studio_and_shop())
    fitted = {}
    for where, limit in (("driver", DRIVER_FIT_MAX_VALUES), ("executors", 0)):
        folder = tmp_path / f"classifier-{where}"
        info = fit_classifier(spark, uri, folder.as_uri(), HadoopFS(spark),
                              inputs=["file:///d/studio", "file:///d/shop"], weighting=weighting,
                              standardization=standardization, regularisation=0.01, tolerance=1e-9,
                              driver_max_values=limit)
        fitted[where] = info, LinearModel.from_dict(json.loads((folder / "model.json").read_text()))
    (on_driver, driver), (on_executors, executors) = fitted["driver"], fitted["executors"]
    assert "on the driver" in on_driver.fitted_by and on_executors.fitted_by.startswith("pyspark.ml")
    assert on_driver.n_references == on_executors.n_references == 84 and on_driver.weighting == on_executors.weighting
    assert driver.classes == executors.classes == ("Apple", "Lemon", "Pear")
    spots = np.random.default_rng(5).uniform(-2, 7, size=(200, 2))
    np.testing.assert_allclose(driver.probabilities(spots), executors.probabilities(spots), atol=2e-3)
    np.testing.assert_allclose(driver.coefficients, executors.coefficients, rtol=2e-2, atol=2e-3)
