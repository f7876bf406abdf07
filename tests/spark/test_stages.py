"""The stages of `fruits run` one by one, as a notebook calls them: typed results, and nothing left alive on the
Spark session after a failure."""

from __future__ import annotations

from contextlib import ExitStack

import pandas as pd
import pytest

from fruits.config import RunConfig
from fruits.errors import UsageError
from fruits.spark import job, stages
from fruits.storage import join

FAST = {"weights": "random:3", "image_size": 64, "k": 4}


def _persisted(spark) -> int:
    return spark.sparkContext._jsc.getPersistentRDDs().size()


def test_stages_one_by_one_give_the_manifest_of_run_pipeline(spark, synthetic_photos, tmp_path):
    config = RunConfig(inputs=(str(synthetic_photos),), output=str(tmp_path / "out"), **FAST)
    with ExitStack() as cleanup:
        started = stages.start(spark, config, cleanup)
        assert started.locations.inputs == (f"file://{synthetic_photos}",)
        prepared = stages.prepare(spark, started, cleanup)
        assert prepared.discovered.n_input == 40 and prepared.model.broadcast._jbroadcast.isValid()
        featurized = stages.featurize(spark, started, prepared, cleanup)
        assert (featurized.result.n_features, featurized.result.n_errors) == (40, 0)
        fitted = stages.fit(spark, started, featurized)
        assert fitted.projection.k == 4
        projected = stages.project(spark, started, fitted, cleanup)
        assert sum(projected.labels.values()) == 40
        manifest = stages.finish(spark, started, prepared, featurized, fitted, projected)
    assert not prepared.model.broadcast._jbroadcast.isValid()
    assert manifest.n_features == 40 and manifest.inputs[0].uri == started.locations.inputs[0]
    assert (tmp_path / "out" / "manifest.json").exists()


class Injected(RuntimeError):
    pass


@pytest.mark.parametrize("failing_stage, pca_on_driver, broadcasts", [("fit", True, 1), ("finish", True, 1),
                                                                      ("finish", False, 2)])
def test_a_failure_after_the_broadcast_leaves_no_live_broadcast(spark, synthetic_photos, tmp_path, monkeypatch,
                                                                  failing_stage, pca_on_driver, broadcasts):
    """fit fails with the weights broadcast and the featurized rows persisted; finish fails after the
    projection's broadcast too when the executors projected (a run too large for the driver's PCA). Either way
    nothing stays alive on the session, and no manifest is written."""
    from fruits.spark import driver_pca

    if not pca_on_driver:
        monkeypatch.setattr(driver_pca, "DRIVER_PCA_MAX_PHOTOS", 0)
    created = []
    real_broadcast = spark.sparkContext.broadcast

    def broadcast(value):
        created.append(real_broadcast(value))
        return created[-1]

    def fail(*args, **kwargs):
        assert any(b._jbroadcast.isValid() for b in created)  # the failure does happen with broadcasts alive
        raise Injected(failing_stage)

    monkeypatch.setattr(spark.sparkContext, "broadcast", broadcast)
    monkeypatch.setattr(stages, failing_stage, fail)
    before = _persisted(spark)
    config = RunConfig(inputs=(str(synthetic_photos),), output=str(tmp_path / "out"), **FAST)
    with pytest.raises(Injected):
        job.run_pipeline(config, spark)
    assert len(created) == broadcasts
    assert [b for b in created if b._jbroadcast.isValid()] == []
    assert _persisted(spark) == before
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_photo_deleted_between_listing_and_reading_is_counted_not_fatal(spark, synthetic_photos, tmp_path):
    import shutil

    photos = tmp_path / "photos"
    shutil.copytree(synthetic_photos, photos)
    config = RunConfig(inputs=(str(photos),), output=str(tmp_path / "out"), **FAST)
    with ExitStack() as cleanup:
        started = stages.start(spark, config, cleanup)
        prepared = stages.prepare(spark, started, cleanup)
        victim = sorted((photos / "Training" / "apple").glob("*.jpg"))[0]
        victim.unlink()
        featurized = stages.featurize(spark, started, prepared, cleanup)
    counts = featurized.result.per_input[0]
    assert (counts.n_input, counts.n_features, counts.n_errors, counts.n_skipped) == (40, 39, 1, 1)
    errors = pd.read_parquet(join(str(tmp_path / "out"), "errors"))
    assert errors["path"].tolist() == [started.locations.inputs[0]] and "deleted" in errors["reason"][0]


@pytest.mark.parametrize("layout, message", [
    (lambda root: [root / "a", root / "a"], "given twice"),
    (lambda root: [root / "a", root / "a" / "Training"], "inside INPUT"),
    (lambda root: [root / "a" / "Training", root / "a/"], "inside INPUT"),
    (lambda root: [root / "a", root / "link"], "given twice"),  # a symlink to the same folder
])
def test_an_input_given_twice_or_nested_is_refused(spark, tmp_path, layout, message):
    (tmp_path / "a" / "Training").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    config = RunConfig(inputs=tuple(str(p) for p in layout(tmp_path)), output=str(tmp_path / "out"), **FAST)
    with pytest.raises(UsageError, match=message):
        stages.start(spark, config, ExitStack())
    assert not (tmp_path / "out").exists()
