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
