"""Identify: the run's own model and projection for a new photo, the sha256 check, bad photos, fruit facts."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fruits
from fruits.errors import WeightsError
from fruits.identify import (
    FruitFacts,
    Identifier,
    UnreadablePhotoError,
    UnsupportedPhotoError,
    strip_metadata,
    weights_spec_for,
)
from fruits.identify import service as identify_service
from fruits.images import decode_and_resize
from fruits.outputs import WeightsInfo
from fruits.run_output import open_run_output
from tests import bad_images, no_fruit

REQUIRED_KINDS = ("apple", "lemon", "mango", "raspberry", "banana", "orange")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from tests.conftest import SHARED, _require_shared

    return _require_shared(SHARED / "data" / "grocery-store-fruit").parent


# --- fruit facts ----------------------------------------------------------------------------------------------


def test_every_card_is_complete_and_every_figure_has_a_source():
    facts = FruitFacts.load()
    assert len(facts.kinds) >= 36 and set(REQUIRED_KINDS) <= set(facts.kinds)
    for kind, card in facts.kinds.items():
        for key in ("common_name", "family", "origin", "season"):
            assert card[key], (kind, key)
        for key, unit in (("energy_kcal_per_100g", "kcal"), ("vitamin_c_mg_per_100g", "mg")):
            figure = card[key]
            assert figure["unit"] == unit
            if figure["value"] is None:
                assert card.get("note"), f"{kind}: a missing figure needs a note saying why"
            else:
                assert figure["value"] >= 0 and "USDA FoodData Central" in figure["source"]["database"]
                assert figure["source"]["description"], kind
    for kind in REQUIRED_KINDS:
        assert facts.kinds[kind]["energy_kcal_per_100g"]["value"] is not None


@pytest.mark.parametrize("label, kind", [
    ("Apple Red 1", "apple"), ("Apple Golden 2", "apple"), ("Cherry Wax Red", "cherry"), ("Tomato 4", "tomato"),
    ("lemon", "lemon"), ("raspberry", "raspberry"), ("Raspberries", "raspberry"), ("Apple hit 1", "apple"),
    ("Kaki", "persimmon"), ("Maracuja", "passion fruit"), ("Pear Monster", "pear"), ("banana", "banana"),
    ("orange", "orange"), ("Nut Forest", "hazelnut"), ("Something Else", None), (None, None),
    ("Satsuma", "mandarin"), ("Clementine", "mandarin"), ("Mandarine", "mandarin"), ("Cantaloupe", "melon"),
    ("Melon Galia", "melon"), ("Melon Honeydew", "melon"), ("Watermelon", "watermelon"), ("Pear Anjou", "pear"),
    ("Apple Royal Gala", "apple"), ("Grapefruit Red", "grapefruit"), ("Lime", "lime"), ("Potato Sweet", "sweet potato"),
])
def test_class_names_map_to_fruit_kinds(label, kind):
    assert FruitFacts.load().kind_for(label) == kind


def test_every_fruits360_class_maps_to_a_known_kind():
    facts = FruitFacts.load()
    document = json.loads(Path(fruits.__file__).with_name("data").joinpath("fruit_facts.json").read_text())
    assert len(document["classes"]) >= 120
    assert all(facts.kind_for(name) in facts.kinds for name in document["classes"])


def test_every_label_of_the_shared_sets_has_a_kind(shared_data):
    """Fruits-360-114 and the grocery photos: 125 distinct labels, every one of a kind with a card."""
    facts = FruitFacts.load()
    labels = {p.name for root in ("fruits-360-114", "grocery-store-fruit") for split in ("Training", "Test")
              for p in (shared_data / root / split).iterdir() if p.is_dir()}
    assert len(labels) >= 120
    assert {label: facts.kind_for(label) for label in labels if facts.kind_for(label) not in facts.kinds} == {}


def test_weights_spec_comes_from_the_manifest(synthetic_run):
    manifest = open_run_output(str(synthetic_run)).manifest

    def spec_for(spec, source=""):
        return weights_spec_for(dataclasses.replace(manifest, weights=WeightsInfo(spec=spec, source=source,
                                                                                   sha256="0" * 64)))

    assert spec_for("/m/w.weights.h5").location == "/m/w.weights.h5"
    assert spec_for("auto", "auto->random:0").describe() == "random:0"
    assert spec_for("auto", "imagenet").kind == "imagenet"
    assert spec_for("random:3").seed == 3


# --- identify on the synthetic run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_identifier(synthetic_run):
    return Identifier.for_run(open_run_output(str(synthetic_run)), neighbours=5)


def test_a_reference_photo_lands_on_its_own_coordinates(synthetic_identifier):
    """Same decoding, model, weights and projection as the run: a reference photo is its own nearest
    neighbour, at distance ~0."""
    run = synthetic_identifier.run
    row = int(synthetic_identifier.reference_rows[3])
    coords = synthetic_identifier.coordinates(run.read_image(row))
    np.testing.assert_allclose(coords, run.images.coords[row], atol=1e-3)
    answer = synthetic_identifier.identify(run.read_image(row), top=3, similar=4)
    assert answer.similar[0]["id"] == run.images.ids[row] and answer.similar[0]["distance"] < 1e-2
    assert len(answer.top) == 3 and len(answer.similar) == 4
    scores = [t["score"] for t in answer.top]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1 + 1e-9
    assert answer.top[0]["label"] in answer.sentence and answer.k == 5
    as_json = json.loads(json.dumps(answer.to_dict()))
    assert answer.familiarity == 1.0  # its own nearest neighbour
    assert as_json["kind"] == as_json["kinds"][0]["kind"] and as_json["variety"] == as_json["kinds"][0]["variety"]
    assert FruitFacts.load().kind_for(as_json["variety"]) == as_json["kind"]
    if as_json["confident"]:
        assert as_json["card"]["kind"] == as_json["kind"] and not as_json["verdict"].startswith("Not sure")
    else:
        assert as_json["card"] is None and as_json["verdict"].startswith("Not sure")


def test_kinds_and_top_labels_are_worked_out_from_the_label_scores(synthetic_identifier, synthetic_photos):
    """A kind's score is the sum of its labels' scores (added best first), its variety its best label, and each
    top label carries its kind and common name: the answer equals this plain recomputation from the scores and
    FruitFacts, to the last bit, whatever the answer caches between calls."""
    facts = FruitFacts.load()
    photos = sorted(synthetic_photos.rglob("*.jpg"))[:6]
    for photo in photos + photos[:2]:  # the second time through, from what the first calls cached
        views = synthetic_identifier.view_coordinates(photo.read_bytes())
        classes, scores, _ = synthetic_identifier.label_scores(views)
        order = np.argsort(-scores, kind="stable")
        kinds: dict[str, dict] = {}
        for c in order:
            kind = facts.kind_for(classes[c]) or classes[c]
            name = facts.kinds[kind]["common_name"] if kind in facts.kinds else kind
            entry = kinds.setdefault(kind, {"kind": kind, "name": name, "score": 0.0, "variety": classes[c]})
            entry["score"] += float(scores[c])
        answer = synthetic_identifier.answer(views)
        assert answer.kinds == sorted(kinds.values(), key=lambda e: -e["score"])[:3]
        cards = [facts.card(classes[c]) for c in order[:3]]
        assert [(t["label"], t["kind"], t["name"], t["score"]) for t in answer.top] == [
            (classes[c], facts.kind_for(classes[c]), card["common_name"] if card else classes[c], float(scores[c]))
            for c, card in zip(order[:3], cards)]


@pytest.mark.parametrize("n, whole, expected", [
    (1, 0.5, [1.0]), (3, None, [1 / 3, 1 / 3, 1 / 3]), (3, 0.5, [0.5, 0.25, 0.25]), (2, 0.8, [0.8, 0.2]),
    (3, 1.0, [1.0, 0.0, 0.0]), (3, 0.0, [0.0, 0.5, 0.5])])
def test_the_whole_view_weighs_its_share_and_the_crops_share_the_rest(n, whole, expected):
    from fruits.identify.service import view_weights

    np.testing.assert_allclose(view_weights(n, whole), expected)


@pytest.mark.parametrize("whole", [-0.1, 1.5, float("nan")])
def test_a_whole_view_weight_outside_0_to_1_is_refused(whole):
    from fruits.identify.service import view_weights

    with pytest.raises(ValueError, match="between 0 and 1"):
        view_weights(3, whole)


def test_a_photos_label_scores_are_its_views_scores_weighted(synthetic_identifier, synthetic_photos):
    """The classifier's scores of each view, weighted by view_weights (the product's WHOLE_VIEW_WEIGHT): rows of
    probabilities, so the photo's scores sum to 1."""
    from fruits.identify.service import view_weights

    photo = sorted(synthetic_photos.rglob("*.jpg"))[0]
    views = synthetic_identifier.view_coordinates(photo.read_bytes())
    assert len(views) == synthetic_identifier.views > 1
    classes, scores, method = synthetic_identifier.label_scores(views)
    per_view = (synthetic_identifier.linear.probabilities(views) if method == "logistic"
                else synthetic_identifier.classifier.classify(views).scores)
    np.testing.assert_allclose(scores, view_weights(len(views), synthetic_identifier.whole_view_weight) @ per_view,
                               rtol=1e-12)
    assert abs(scores.sum() - 1.0) < 1e-9
    plain = Identifier(synthetic_identifier.run, synthetic_identifier.classifier, synthetic_identifier.reference_rows,
                       linear=synthetic_identifier.linear or False, whole_view_weight=None)
    np.testing.assert_allclose(plain.label_scores(views)[1], per_view.mean(axis=0), rtol=1e-12)


def test_the_run_fits_a_linear_classifier_with_pyspark(synthetic_run, synthetic_identifier):
    from fruits.identify.service import load_linear_model

    run = synthetic_identifier.run
    about = run.manifest.classifier
    assert about.file == "classifier/model.json" and "on the driver" in about.fitted_by  # few references
    model = load_linear_model(run)
    rows = synthetic_identifier.reference_rows
    assert model.classes == tuple(sorted(set(run.images.labels[rows]))) and about.n_references == len(rows)
    predicted = np.asarray(model.classes)[model.probabilities(run.images.coords[rows]).argmax(axis=1)]
    assert np.mean(predicted == run.images.labels[rows]) >= 0.8
    assert synthetic_identifier.linear is not None and synthetic_identifier.identify(
        run.read_image(int(rows[0]))).method == "logistic"


def test_views_start_with_what_the_run_saw(synthetic_photos):
    from fruits.views import photo_views

    photo = sorted((synthetic_photos / "Test").rglob("*.jpg"))[0].read_bytes()
    views = photo_views(photo, 64, 6)
    assert views.shape == (6, 64, 64, 3) and views.dtype == np.uint8
    np.testing.assert_array_equal(views[0], decode_and_resize(photo, 64))
    np.testing.assert_array_equal(photo_views(photo, 64, 1), views[:1])
    assert len({v.tobytes() for v in views}) == 6  # six different crops


def _resized(photo: bytes, width: int, height: int, image_format: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("RGB").resize((width, height)).save(buffer, image_format)
    return buffer.getvalue()


# (width, height, format): decoded once for view 0 and the crops (no draft, or the same JPEG draft scale for
# both: 1/8 for a 4000x3000 photo at 160 px), or twice when the crops need a finer draft scale than view 0
# (300x400 at 64 px: 1/4 for view 0, 1/2 for the crops).
@pytest.mark.parametrize("width, height, image_format, size", [
    (4000, 3000, "JPEG", 160), (300, 400, "JPEG", 64), (500, 300, "PNG", 64), (100, 100, "JPEG", 64)])
def test_view_zero_is_what_the_run_computes_however_the_photo_is_decoded(synthetic_photos, width, height,
                                                                          image_format, size):
    from fruits.views import photo_views

    photo = _resized(sorted((synthetic_photos / "Test").rglob("*.jpg"))[0].read_bytes(), width, height, image_format)
    views = photo_views(photo, size, 6)
    np.testing.assert_array_equal(views[0], decode_and_resize(photo, size))
    assert len({v.tobytes() for v in views}) == 6


def test_view_zero_of_a_turned_phone_photo_is_what_the_run_computes(synthetic_photos):
    from fruits.views import photo_views

    turned = _phone_photo(sorted((synthetic_photos / "Test").rglob("*.jpg"))[0].read_bytes(), orientation=6)
    views = photo_views(turned, 160, 3)
    np.testing.assert_array_equal(views[0], decode_and_resize(turned, 160))


def _crops_decoded_on_their_own(photo: bytes, size: int, views: int) -> list[np.ndarray]:
    """The crops of fruits.views worked out the plain way: a decode of their own at the JPEG draft
    scale that keeps size / CROP_SHARE pixels, a copy turned upright, each crop resized."""
    from PIL import ImageOps

    from fruits.views import CROP_SHARE, _crop_boxes
    from fruits.images import to_rgb

    image = Image.open(io.BytesIO(photo))
    width, height = image.size
    scale = min(width, height) / (size / CROP_SHARE)
    if image.format == "JPEG" and scale >= 2:
        image.draft("RGB", (int(width / scale), int(height / scale)))
    image = to_rgb(ImageOps.exif_transpose(image))
    return [np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box))
            for box in _crop_boxes(*image.size)[: views - 1]]


# The views are cut with as little work as possible (one header read, the orientation applied in place, the
# views written straight into the array, one decode when view 0 and the crops share a draft scale): the same
# pixels as each view computed on its own, whatever the photo's size, format, mode and orientation.
@pytest.mark.parametrize("width, height, image_format, mode, orientation, size", [
    (4000, 3000, "JPEG", "RGB", 6, 160), (348, 348, "JPEG", "RGB", None, 160), (300, 400, "JPEG", "RGB", 3, 64),
    (1000, 700, "JPEG", "L", 8, 160), (500, 300, "PNG", "RGBA", None, 64), (100, 100, "JPEG", "RGB", None, 64)])
def test_every_view_is_the_pixels_it_gets_on_its_own(synthetic_photos, width, height, image_format, mode,
                                                     orientation, size):
    from fruits.views import photo_views

    upright = Image.open(io.BytesIO(sorted((synthetic_photos / "Test").rglob("*.jpg"))[0].read_bytes()))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    upright.convert("RGB").resize((width, height)).convert(mode).save(buffer, image_format, exif=exif.tobytes())
    photo = strip_metadata(buffer.getvalue())
    views = photo_views(photo, size, 6)
    assert views.shape == (6, size, size, 3) and views.flags.c_contiguous
    np.testing.assert_array_equal(views[0], decode_and_resize(photo, size))
    np.testing.assert_array_equal(views[1:], np.stack(_crops_decoded_on_their_own(photo, size, 6)))
    np.testing.assert_array_equal(photo_views(photo, size, 3), views[:3])


def _phone_photo(upright: bytes, orientation: int | None) -> bytes:
    """A 4000x3000 JPEG from an upright photo, its pixels stored turned by 90 degrees, with the EXIF orientation
    (6) that turns it back upright, or none."""
    image = Image.open(io.BytesIO(upright)).convert("RGB").resize((3000, 4000), Image.Resampling.BICUBIC)
    stored = image.transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    else:
        stored.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_a_big_phone_photo_with_exif_rotation_is_identified_upright_and_fast(synthetic_identifier):
    import time

    run = synthetic_identifier.run
    row = int(synthetic_identifier.reference_rows[2])
    upright = run.read_image(row)
    turned = _phone_photo(upright, orientation=6)
    sideways = _phone_photo(upright, orientation=None)
    assert Image.open(io.BytesIO(turned)).size == (4000, 3000)
    mine, wrong = synthetic_identifier.coordinates(turned), synthetic_identifier.coordinates(sideways)
    reference = run.images.coords[row]
    assert np.linalg.norm(mine - reference) < 0.5 * np.linalg.norm(wrong - reference)
    synthetic_identifier.identify(turned)  # warm
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        answer = synthetic_identifier.identify(turned)
        seconds.append(time.perf_counter() - started)
    assert answer.similar[0]["id"] == run.images.ids[row]
    assert min(seconds) <= 0.3, seconds  # the latency goal, on one photo


def test_concurrent_identify_calls_give_the_sequential_answers(synthetic_identifier, synthetic_photos):
    from concurrent.futures import ThreadPoolExecutor

    photos = [p.read_bytes() for p in sorted(synthetic_photos.rglob("*.jpg"))[:8]]
    sequential = [synthetic_identifier.identify(p).to_dict() for p in photos]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda p: synthetic_identifier.identify(p).to_dict(), photos * 3))
    assert concurrent == sequential * 3


def test_the_predictor_is_built_once_per_process(synthetic_identifier, monkeypatch):
    synthetic_identifier.warm()
    calls = []
    monkeypatch.setattr(identify_service, "load_weights", lambda *a, **k: calls.append(a))
    photo = synthetic_identifier.run.read_image(0)
    synthetic_identifier.identify(photo)
    Identifier.for_run(synthetic_identifier.run).identify(photo)
    assert calls == []


def test_the_model_comes_from_the_litert_cache_without_reading_the_weights(synthetic_identifier, monkeypatch,
                                                                             tmp_path):
    """`fruits run` cached its LiteRT conversion under the weights' sha256: identify finds it there and reads no
    weights file (nor imports TensorFlow); with an empty cache it loads and checks the weights, converts, and
    caches the conversion. Same answers either way."""
    run = synthetic_identifier.run
    assert run.manifest.engine == "litert"
    photo = run.read_image(0)
    expected = synthetic_identifier.identify(photo).to_dict()
    loads = []
    load_weights = identify_service.load_weights
    monkeypatch.setattr(identify_service, "load_weights", lambda *a, **kw: loads.append(a) or load_weights(*a, **kw))
    monkeypatch.setattr(identify_service, "_MODELS", {})
    assert Identifier.for_run(run, neighbours=5).identify(photo).to_dict() == expected
    assert loads == []
    monkeypatch.setenv("FRUITS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(identify_service, "_MODELS", {})
    assert Identifier.for_run(run, neighbours=5).identify(photo).to_dict() == expected
    assert len(loads) == 1 and len(list(tmp_path.rglob("*.tflite"))) == 1


def test_identify_runs_one_predictor_per_core(synthetic_identifier):
    """Concurrent requests do not queue behind one model: the pool holds one single-threaded interpreter per
    core (default_threads)."""
    synthetic_identifier.warm()
    model = identify_service.run_model(synthetic_identifier.run)
    assert model.size == identify_service.default_threads()


def test_changed_weights_are_refused(synthetic_identifier):
    run = synthetic_identifier.run
    manifest = dataclasses.replace(run.manifest, weights=dataclasses.replace(run.manifest.weights, sha256="0" * 64))
    tampered = Identifier.for_run(dataclasses.replace(run, manifest=manifest))
    with pytest.raises(WeightsError, match="changed since `fruits run`"):
        tampered.identify(run.read_image(0))


@pytest.mark.parametrize("photo, error", [
    (bad_images.truncated_jpeg(), UnreadablePhotoError),
    (bad_images.text_named_jpg(), UnsupportedPhotoError),
    (b"", UnreadablePhotoError),
    (bad_images.png_bomb(), UnreadablePhotoError),
    (b"GIF89a" + b"\x00" * 40, UnsupportedPhotoError),
])
def test_bad_photos_are_refused_with_a_reason(synthetic_identifier, photo, error):
    with pytest.raises(error) as caught:
        synthetic_identifier.identify(photo)
    assert str(caught.value) and "\n" not in str(caught.value)


def _photo_with_metadata(image_format: str, orientation: int = 6) -> bytes:
    image = Image.new("RGB", (60, 30), (255, 255, 255))
    image.paste((200, 20, 20), (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SECRET-PHONE-MAKER"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS IFD: latitude
    buffer = io.BytesIO()
    extra = {"comment": b"SECRET-COMMENT"} if image_format == "JPEG" else {}
    image.save(buffer, format=image_format, exif=exif.tobytes(), **extra)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_metadata_is_cut_out_but_pixels_and_orientation_stay(image_format):
    original = _photo_with_metadata(image_format)
    clean = strip_metadata(original)
    assert b"SECRET" in original and b"SECRET" not in clean and b"GPS" not in clean
    assert dict(Image.open(io.BytesIO(clean)).getexif()) == {0x0112: 6}
    np.testing.assert_array_equal(decode_and_resize(clean, 32), decode_and_resize(original, 32))


@pytest.mark.parametrize("name", sorted(bad_images.CASES))
def test_stripping_changes_no_decoding_result(name):
    data = bad_images.CASES[name][0]()
    def outcome(photo):
        try:
            return decode_and_resize(photo, 32)
        except Exception as exc:  # noqa: BLE001
            return str(exc)
    before, after = outcome(data), outcome(strip_metadata(data))
    assert type(before) is type(after)
    assert (before == after) if isinstance(before, str) else np.array_equal(before, after)


def test_exif_of_a_photo_never_reaches_logs_or_the_answer(synthetic_identifier, caplog):
    photo = _photo_with_metadata("JPEG")
    with caplog.at_level("DEBUG"):
        answer = synthetic_identifier.identify(photo)
    text = json.dumps(answer.to_dict()) + caplog.text
    assert "SECRET-PHONE-MAKER" not in text and "GPS" not in text


def test_cli_identify_prints_the_answer_as_json(synthetic_run, synthetic_photos, capsys):
    from fruits.cli.main import main

    photo = sorted((synthetic_photos / "Test").rglob("*.jpg"))[0]
    assert main(["identify", str(synthetic_run), str(photo), "--similar", "2"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["top"]) == 3 and len(answer["similar"]) == 2 and answer["sentence"]
    assert main(["identify", str(synthetic_run), str(photo.parent / "missing.jpg")]) == 2
    assert "cannot read PHOTO" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("fruit", ["apple", "lemon", "mango", "raspberry"])
def test_shared_sample_test_photos_are_identified(shared_run, shared_sample, fruit):
    identifier = _shared_identifier(str(shared_run))
    for photo in sorted((shared_sample / "Test" / fruit).glob("*.jpg"))[:5]:
        answer = identifier.identify(photo.read_bytes())
        # The score is the run's linear classifier's probability, averaged over the photo's views (not a share
        # of kNN votes as it once was): a clear majority, and a confident answer.
        assert answer.top[0]["label"] == fruit and answer.top[0]["score"] > 0.6, (photo, answer.top)
        assert answer.confident and answer.kind == fruit and answer.card["kind"] == fruit


_SHARED: dict[str, Identifier] = {}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(no_fruit.NO_FRUIT))
def test_a_photo_with_no_fruit_is_not_sure(shared_run, name):
    identifier = _shared_identifier(str(shared_run))
    answer = identifier.identify(no_fruit.NO_FRUIT[name](seed=1)).to_dict()
    assert answer["confident"] is False and answer["card"] is None, answer["verdict"]
    assert answer["verdict"].startswith("Not sure") and len(answer["kinds"]) >= 1


def _shared_identifier(output: str) -> Identifier:
    if output not in _SHARED:
        _SHARED[output] = Identifier.for_run(open_run_output(output))
    return _SHARED[output]


# --- identify on real shop photos (slow: a real run over a slice of both shared sets) ---------------------------

# Fruits-360-114 Training photos per class in the slow test's references: few, so the run (570 studio photos and
# the 1,253 grocery photos, which carry the accuracy on shop photos) stays CI-sized; the full figures come from
# benchmarks/identify_levers.py over a run of both whole sets.
FRUITS360_PER_CLASS = 5
# Floors just under what this test reached with README's settings for shop photos (the bottleneck layer, the grocery
# photos' reference views, with their mirror images): kind top-1 80.2% = 89/111, top-3 99.1% = 110/111, the whole
# test in 45 s on the quiet 2-core machine; three photos of margin each (86 and 107), so a regression fails. (With
# the `top` layer and no reference views it reached 57.7% / 82.9%: the studio input is the smaller one here, 570
# photos, so these figures match the whole sets' only by chance; docs/identify.md has those.)
KIND_TOP1_FLOOR = 0.77
KIND_TOP3_FLOOR = 0.96


@pytest.fixture(scope="module")
def shop_run(spark, shared_data, shared_weights, tmp_path_factory):
    """One run over Fruits-360-114 (FRUITS360_PER_CLASS Training photos a class) and all the grocery photos,
    laid side by side as two folders of links, two INPUTs, with README's settings for shop photos."""
    from tests.conftest import run_fixture_pipeline

    root = tmp_path_factory.mktemp("shop") / "photos"
    for folder in sorted((shared_data / "fruits-360-114" / "Training").iterdir()):
        target = root / "fruits-360-114" / "Training" / folder.name
        target.mkdir(parents=True)
        for photo in sorted(folder.glob("*.jpg"))[:FRUITS360_PER_CLASS]:
            (target / photo.name).symlink_to(photo)
    shop = root / "grocery-store-fruit"
    shop.symlink_to(shared_data / "grocery-store-fruit", target_is_directory=True)
    output = root.parent / "output"
    run_fixture_pipeline(spark, [root / "fruits-360-114", shop], output, weights=str(shared_weights), image_size=160,
                         feature_layer="bottleneck", reference_views=(str(shop),))
    return open_run_output(str(output))


@pytest.mark.slow
def test_identify_names_the_kind_of_fruit_in_shop_photos(shop_run):
    """The issue's measure: grocery-store-fruit/Test (111 phone photos), references from both sets; the right kind
    first and in the top 3, with the product's Identifier (views, linear classifier)."""
    from fruits.evaluation import inputs_of

    facts = FruitFacts.load()
    images = shop_run.images
    names = inputs_of(shop_run)
    rows = np.nonzero((names == "grocery-store-fruit") & (images.splits == "Test"))[0]
    assert len(rows) == 111
    identifier = Identifier.for_run(shop_run)
    answers = [identifier.identify(shop_run.read_image(int(row))) for row in rows]
    truth = [facts.kind_for(images.labels[row]) for row in rows]
    top1 = np.mean([a.kind == t for a, t in zip(answers, truth)])
    top3 = np.mean([t in [k["kind"] for k in a.kinds] for a, t in zip(answers, truth)])
    print(f"kind top-1 {100 * top1:.1f}%, top-3 {100 * top3:.1f}% on {len(rows)} shop photos")
    assert answers[0].method == "logistic"
    assert shop_run.manifest.classifier.reference_views["rows"] == 5 * 1142  # 2 crops and 3 mirror images
    assert top1 >= KIND_TOP1_FLOOR and top3 >= KIND_TOP3_FLOOR, (top1, top3)
