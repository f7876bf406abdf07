"""The plan of an incremental run (fruits.spark.plan): made on the driver or with joins in Spark, the same plan,
on two INPUTs where a photo of each status is found."""

from __future__ import annotations

import shutil

import pytest

from fruits.spark import plan as planning
from fruits.spark.steps import discover
from tests import bad_images
from tests.conftest import run_fixture_pipeline
from tests.spark.test_incremental import FAST, same_size_other_content


@pytest.fixture(scope="module")
def previous_and_now(spark, synthetic_photos, tmp_path_factory):
    """A first run over INPUTs a (the synthetic photos and one that does not decode) and b (two photos); then in a
    one photo changed and two arrived, in b one deleted and one arrived. Returns what the next run lists and the
    previous OUTPUT."""
    root = tmp_path_factory.mktemp("plan")
    a, b = root / "a", root / "b"
    shutil.copytree(synthetic_photos, a)
    (a / "Training" / "apple" / "broken.jpg").write_bytes(bad_images.truncated_jpeg())
    donors = sorted(a.rglob("*.jpg"))
    for i, source in enumerate(donors[:2]):
        (b / "Training" / "kiwi").mkdir(parents=True, exist_ok=True)
        shutil.copy(source, b / "Training" / "kiwi" / f"kiwi-{i}.jpg")
    output = root / "out"
    run_fixture_pipeline(spark, [a, b], output, **FAST)

    same_size_other_content(sorted((a / "Training" / "banana").glob("*.jpg"))[0], donors)
    for i, source in enumerate(donors[-2:]):
        shutil.copy(source, source.with_name(f"arrived-{i}.jpg"))
    (b / "Training" / "kiwi" / "kiwi-0.jpg").unlink()
    shutil.copy(donors[3], b / "Training" / "kiwi" / "kiwi-2.jpg")
    discovered = discover(spark, (f"file://{a}", f"file://{b}"))
    return discovered, f"file://{output}", len(donors) + 2


def rows(frame, columns) -> list[tuple]:
    return sorted(tuple(row[c] for c in columns) for row in frame.collect())


def test_the_plan_on_the_driver_is_the_plan_in_spark(spark, previous_and_now, tmp_path):
    discovered, previous_uri, n_first = previous_and_now
    on_driver = planning.plan_on_driver(spark, discovered, previous_uri)
    in_spark = planning.plan_in_spark(spark, discovered, previous_uri)
    try:
        reused_in_a = n_first - 2 - 2  # b's two photos, a's changed one and its broken one (no features) apart
        expected = {"reused": reused_in_a + 1, "new": 3, "changed": 1, "retried": 1, "removed": 1}
        assert on_driver.counts == in_spark.counts == expected
        assert on_driver.by_input == in_spark.by_input == {
            (0, "reused"): reused_in_a, (0, "new"): 2, (0, "changed"): 1, (0, "retried"): 1,
            (1, "reused"): 1, (1, "new"): 1}
        assert sorted(on_driver.todo) == sorted(in_spark.todo)
        assert {path.rsplit("/", 1)[-1] for _, path in on_driver.todo} >= {"broken.jpg", "kiwi-2.jpg"}
        assert on_driver.dropped == in_spark.dropped == 2
        columns = ["path", "length", "modification_time", "input", "status"]
        assert rows(on_driver.classified, columns) == rows(in_spark.classified, columns)
        index = ["path", "length", "modification_time"]
        assert rows(on_driver.index(), index) == rows(in_spark.index(), index)
        assert len(rows(on_driver.index(), index)) == n_first - 1 + 3
        # listing/ as each plan writes it (pyarrow on the driver, Spark otherwise) reads back as the same rows.
        written = []
        for name, made in (("driver", on_driver), ("spark", in_spark)):
            made.write_index(spark, f"file://{tmp_path / name}")
            written.append(rows(spark.read.schema(planning.LISTING_SCHEMA).parquet(str(tmp_path / name)), index))
        assert written[0] == written[1] == rows(in_spark.index(), index)
    finally:
        on_driver.release()
        in_spark.release()


@pytest.mark.parametrize("limit, made", [(planning.DRIVER_PLAN_MAX_PHOTOS, "on the driver"), (10, "in Spark")])
def test_the_photos_counted_choose_where_the_plan_is_made(spark, previous_and_now, monkeypatch, limit, made):
    discovered, previous_uri, n_first = previous_and_now
    calls = []
    monkeypatch.setattr(planning, "DRIVER_PLAN_MAX_PHOTOS", limit)
    monkeypatch.setattr(planning, "plan_on_driver", lambda *args: calls.append("on the driver"))
    monkeypatch.setattr(planning, "plan_in_spark", lambda *args: calls.append("in Spark"))
    planning.plan(spark, discovered, previous_uri, n_first)
    assert calls == [made]
