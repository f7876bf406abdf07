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
from tests import bad_images

REQUIRED_KINDS = ("apple", "lemon", "mango", "raspberry", "banana", "orange")


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
])
def test_class_names_map_to_fruit_kinds(label, kind):
    assert FruitFacts.load().kind_for(label) == kind


def test_every_fruits360_class_maps_to_a_known_kind():
    facts = FruitFacts.load()
    document = json.loads(Path(fruits.__file__).with_name("data").joinpath("fruit_facts.json").read_text())
    assert len(document["classes"]) >= 120
    assert all(facts.kind_for(name) in facts.kinds for name in document["classes"])


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
    assert as_json["card"]["kind"] == FruitFacts.load().kind_for(answer.top[0]["label"])


def test_the_predictor_is_built_once_per_process(synthetic_identifier, monkeypatch):
    synthetic_identifier.warm()
    calls = []
    monkeypatch.setattr(identify_service, "load_weights", lambda *a, **k: calls.append(a))
    photo = synthetic_identifier.run.read_image(0)
    synthetic_identifier.identify(photo)
    Identifier.for_run(synthetic_identifier.run).identify(photo)
    assert calls == []


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
        assert answer.top[0]["label"] == fruit and answer.top[0]["score"] > 0.9, (photo, answer.top)
        assert answer.card["kind"] == fruit


_SHARED: dict[str, Identifier] = {}


def _shared_identifier(output: str) -> Identifier:
    if output not in _SHARED:
        _SHARED[output] = Identifier.for_run(open_run_output(output))
    return _SHARED[output]
