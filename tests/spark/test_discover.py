"""What Spark's listing yields: which files count as photos, and the label and split of each."""

import pytest

from fruits.spark.discover import listing, load_files


@pytest.mark.parametrize(
    "path, label, split",
    [
        ("file:/data/Training/Apple Red 1/r_0_100.jpg", "Apple Red 1", "Training"),
        ("s3://bucket/fruits/Test/Citron jaune é/1.JPG", "Citron jaune é", "Test"),
        ("/photos/lemon/1.jpg", "lemon", None),
        ("/photos/Train/lemon/1.jpg", "lemon", None),
    ],
)
def test_label_is_the_folder_and_split_the_folder_above(spark, path, label, split):
    row = listing(spark.createDataFrame([(path, 1)], "path string, length long")).first()
    assert (row["label"], row["split"]) == (label, split)


def test_image_extensions_in_any_case(spark, tmp_path):
    names = {"a.JPG": True, "b.jpeg": True, "c.PnG": True, "d.gif": False, "e.jpg.txt": False}
    folder = tmp_path / "Training" / "x"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"not empty")
    listed = {row["path"].rsplit("/", 1)[1] for row in load_files(spark, f"file://{tmp_path}").select("path").collect()}
    assert listed == {name for name, is_photo in names.items() if is_photo}


@pytest.mark.parametrize("given, spark_jobs", [("local", 0), ("s3a", "some")])
def test_local_photos_are_listed_by_the_driver_an_object_store_by_spark(spark, tmp_path, given, spark_jobs):
    """Past 32 folders Spark lists through a job of one task per folder (seconds of task start-ups on a local
    disk): a run whose INPUTs are local has the driver list them; one reading an object store keeps Spark's
    parallel listing (here observed on a local folder listed under the setting such a run gets)."""
    from fruits.config import RunConfig
    from fruits.spark.steps import configure_session, discover

    photos = tmp_path / "photos"
    for i in range(40):
        folder = photos / "Training" / f"kind {i}"
        folder.mkdir(parents=True)
        (folder / "1.jpg").write_bytes(b"not empty")
    inputs = (str(photos),) if given == "local" else ("s3a://bucket/photos",)
    configure_session(spark, RunConfig(inputs=inputs, output=str(tmp_path / "out")))
    group = f"listing-{given}"
    spark.sparkContext.setJobGroup(group, "the listing of one INPUT")
    try:
        discovered = discover(spark, (f"file://{photos}",))
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert discovered.listed == (40,)
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
    assert jobs == 0 if spark_jobs == 0 else jobs > 0
