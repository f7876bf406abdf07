"""`fruits run --reference-views INPUT`: the crops identify looks at, of INPUT's reference photos, and the mirror
images of the photo and the crops, are more rows of the classifier's fit (the same pixels and coordinates identify
computes, mirrored), never rows of pca/; the input keeps its
total weight; both fits take them; an incremental run computes them again."""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack

import numpy as np
import pandas as pd
import pytest

from fruits.classify import LinearModel
from fruits.config import RunConfig
from fruits.identify import Identifier
from fruits.run_output import open_run_output
from fruits.spark.classifier import fit_classifier
from fruits.spark.hadoop_fs import HadoopFS
from fruits.spark.reference_views import ReferenceViews, reference_view_rows
from fruits.spark.steps import Discovered, broadcast_model, discover
from tests.conftest import run_fixture_pipeline



@pytest.fixture(scope="module")
def fast(shared_weights):
    """The bottleneck of the pretrained backbone (random weights give it no signal: features of 1e-11), small
    photos."""
    return {"weights": str(shared_weights), "image_size": 96, "k": 4, "feature_layer": "bottleneck"}


@pytest.fixture(scope="module")
def studio_and_shop(synthetic_photos, tmp_path_factory):
    """The synthetic studio photos and a 'shop' input: 3 Training photos of one label, one broken, 2 Test."""
    root = tmp_path_factory.mktemp("reference-views")
    studio = root / "studio"
    shutil.copytree(synthetic_photos, studio)
    shop = root / "shop photos"
    apples = sorted((synthetic_photos / "Training" / "apple").glob("*.jpg"))
    for split, photos in (("Training", apples[:3]), ("Test", apples[3:5])):
        (shop / split / "Apple Royal Gala").mkdir(parents=True)
        for i, photo in enumerate(photos):
            shutil.copy(photo, shop / split / "Apple Royal Gala" / f"shelf {i}.jpg")
    (shop / "Training" / "Apple Royal Gala" / "broken.jpg").write_bytes(b"not a photo")
    return studio, shop


def test_the_views_of_one_input_join_the_fit_and_only_the_fit(spark, studio_and_shop, fast, tmp_path):
    studio, shop = studio_and_shop
    plain = run_fixture_pipeline(spark, [studio, shop], tmp_path / "plain", **fast)
    output = tmp_path / "views"
    manifest = run_fixture_pipeline(spark, [studio, shop], output, reference_views=(str(shop),), **fast)

    views = manifest.classifier.reference_views
    # 3 photos, the broken one none; 2 crops each, the photo and the crops mirrored
    assert views == {"inputs": [f"file://{shop}"], "views_per_photo": 5, "rows": 15}
    assert plain.classifier.reference_views == {}
    per_input = manifest.classifier.references_per_input
    assert per_input == {**plain.classifier.references_per_input, "shop photos": 18}  # 3 photos, 15 views
    assert manifest.classifier.n_references == plain.classifier.n_references + 15
    assert manifest.classifier.standardization is False  # the bottleneck's coordinates as they are
    assert len(pd.read_parquet(output / "pca")) == manifest.n_features == plain.n_features  # whole photos only
    assert manifest.n_errors == 1
    saved = json.loads((output / "manifest.json").read_text())["classifier"]["reference_views"]
    assert saved == views
    with_views = LinearModel.from_dict(json.loads((output / "classifier" / "model.json").read_text()))
    without = LinearModel.from_dict(json.loads((tmp_path / "plain" / "classifier" / "model.json").read_text()))
    assert not np.allclose(with_views.coefficients, without.coefficients)

    again = run_fixture_pipeline(spark, [studio, shop], output, reference_views=(str(shop),), incremental="on",
                                 **fast)
    assert again.incremental.mode != "full" and again.incremental.reused == manifest.n_input - 1
    assert again.classifier.reference_views == views  # computed again: they are not kept between runs


def test_the_views_are_the_crops_identify_looks_at_and_their_mirror_images(spark, studio_and_shop, fast, tmp_path):
    studio, shop = studio_and_shop
    output = tmp_path / "out"
    run_fixture_pipeline(spark, [studio, shop], output, **fast)
    run = open_run_output(str(output))
    config = RunConfig(inputs=(str(studio), str(shop)), output=str(output), **fast)
    with ExitStack() as cleanup:
        model = broadcast_model(spark, config)
        cleanup.callback(model.destroy)
        discovered = discover(spark, (f"file://{studio}", f"file://{shop}"))
        views = reference_view_rows(spark, discovered.only((1,)), model, run.projection, config.limits,
                                    config.max_bytes, cleanup)
        rows = views.rows.toPandas()
        plan = views.rows._jdf.queryExecution().executedPlan().toString()
    assert plan.count("ArrowEvalPython") == 1, plan  # each crop through the model once (not again for a filter)
    # 6 files listed under the shop, 5 views each at most
    assert (views.inputs, views.views_per_photo, views.most_rows) == ((f"file://{shop}",), 5, 30)
    assert len(rows) == 15 and set(rows["split"]) == {"Training"} and set(rows["label"]) == {"Apple Royal Gala"}
    identifier = Identifier.for_run(run, neighbours=3)
    for path, group in rows.groupby("path"):
        with open(path.removeprefix("file:"), "rb") as handle:
            pixels = identifier.pixels(handle.read())
        assert len(pixels) == 3  # identify's views: the whole photo, then the two crops
        expected = identifier.project(np.concatenate([pixels[1:], pixels[:, :, ::-1]]))  # in that order
        assert not np.allclose(expected[:2], expected[3:], atol=1e-3)  # a mirrored crop is another picture
        np.testing.assert_allclose(np.stack(group["pca"].to_numpy()), expected, atol=2e-4)


@pytest.mark.parametrize("driver_max_values", [25_000_000, 0])
def test_both_fits_take_the_views(spark, tmp_path, driver_max_values):
    """The driver's fit and pyspark.ml's (the references over the driver's budget) see the same rows."""
    rng = np.random.default_rng(3)
    rows = [(f"file:///d/studio/Training/{label}/{i}.jpg", label, "Training", rng.normal(size=2).tolist())
            for label in ("Apple", "Pear") for i in range(20)]
    rows += [(f"file:///d/shop/Training/Pear/{i}.jpg", "Pear", "Training", (rng.normal(size=2) + 3).tolist())
             for i in range(3)]
    schema = "path string, label string, split string, pca array<float>"
    pca_uri = (tmp_path / "pca").as_uri()
    spark.createDataFrame(rows[:43], schema).write.parquet(pca_uri)
    crops = spark.createDataFrame([(p, label, split, [x + 0.5 for x in pca]) for p, label, split, pca in rows[40:]
                                   for _ in range(2)], schema)
    views = ReferenceViews(crops, Discovered(("file:///d/shop",), (None,), (3,)), 2)  # 3 photos listed, 2 crops each
    folder = tmp_path / "classifier"
    info = fit_classifier(spark, pca_uri, folder.as_uri(), HadoopFS(spark),
                          inputs=["file:///d/studio", "file:///d/shop"], standardization=False, views=views,
                          driver_max_values=driver_max_values)
    assert info.reference_views == {"inputs": ["file:///d/shop"], "views_per_photo": 2, "rows": 6}
    assert info.references_per_input == {"shop": 9, "studio": 40} and info.n_references == 49
    assert ("driver" in info.fitted_by) == (driver_max_values > 0)
