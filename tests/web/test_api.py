"""The JSON API and the image routes: filters, item details, photo bytes by id only, evaluation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _all_items(client, **params):
    body = client.get("/api/images", params={"per_page": 1000, **params}).json()
    assert body["total"] == len(body["items"])
    return body["items"]


def test_run_summary(client, catalog):
    body = client.get("/api/run").json()
    assert body["n_images"] == 40 and body["classes"] == list(catalog.classes)
    assert body["splits"] == ["Training", "Test"] and body["n_reference"] == 30
    assert body["evaluation"]["method"] == "test split"


def test_listing_pages_through_every_photo(client):
    first = client.get("/api/images", params={"per_page": 15}).json()
    assert first["total"] == 40 and first["pages"] == 3 and len(first["items"]) == 15
    last = client.get("/api/images", params={"per_page": 15, "page": 3}).json()
    assert len(last["items"]) == 10
    assert client.get("/api/images", params={"per_page": 15, "page": 4}).status_code == 404


@pytest.mark.parametrize("params", [
    {"label": "lemon"}, {"split": "Test"}, {"predicted": "apple"}, {"label": "banana", "split": "Training"},
    {"min_score": "0.7"}, {"max_score": "0.5"}, {"mistakes": "1"}, {"min_score": "0.5", "max_score": "0.9"},
])
def test_filters_match_the_catalog(client, catalog, params):
    items = _all_items(client, **params)
    images, assessment = catalog.run.images, catalog.assessment
    expected = np.ones(len(images), dtype=bool)
    if "label" in params:
        expected &= images.labels == params["label"]
    if "split" in params:
        expected &= images.splits == params["split"]
    if "predicted" in params:
        expected &= assessment.predicted == params["predicted"]
    if "min_score" in params:
        expected &= assessment.score >= float(params["min_score"])
    if "max_score" in params:
        expected &= assessment.score <= float(params["max_score"])
    if "mistakes" in params:
        expected &= assessment.predicted != images.labels
    assert sorted(item["id"] for item in items) == sorted(images.ids[expected])
    for item in items:
        if "mistakes" in params:
            assert item["correct"] is False and item["predicted"] != item["label"]


def test_least_sure_first(client):
    scores = [item["score"] for item in _all_items(client, sort="score_asc")]
    assert scores == sorted(scores)


@pytest.mark.parametrize("params", [
    {"min_score": "high"}, {"max_score": "1.5"}, {"label": "durian"}, {"split": "Validation"},
    {"sort": "random"}, {"per_page": "0"},
])
def test_bad_filters_are_422_with_a_message(client, params):
    response = client.get("/api/images", params=params)
    assert response.status_code == 422 and "bad" in response.json()["detail"]


def test_item_detail(client, catalog):
    row = int(np.nonzero(catalog.run.images.splits == "Test")[0][0])
    image_id = catalog.run.images.ids[row]
    body = client.get(f"/api/images/{image_id}").json()
    assert body["id"] == image_id and body["split"] == "Test" and body["label"] == catalog.run.images.labels[row]
    assert body["predicted"] in catalog.classes and 0 <= body["score"] <= 1
    assert str(body["votes"]) in body["sentence"] and body["neighbours_considered"] == catalog.k
    description = body["description"]
    assert (description["width"], description["height"]) == (100, 100)
    assert description["file_bytes"] == len(Path(catalog.run.images.paths[row][len("file:"):]).read_bytes())
    assert 0 < description["brightness"] < 1 and description["dominant_hex"].startswith("#")
    assert len(body["pca_coordinates"]) == 5
    neighbours = body["neighbours"]
    assert len(neighbours) == 12 and all(n["split"] == "Training" for n in neighbours)
    distances = [n["distance"] for n in neighbours]
    assert distances == sorted(distances)
    reference = catalog.run.images.coords[catalog.row(neighbours[0]["id"])]
    assert distances[0] == pytest.approx(float(np.linalg.norm(catalog.run.images.coords[row] - reference)))


def test_a_reference_photo_is_not_its_own_neighbour(client, catalog):
    image_id = catalog.run.images.ids[catalog.assessment.reference_rows[0]]
    body = client.get(f"/api/images/{image_id}").json()
    assert body["is_reference"] and image_id not in [n["id"] for n in body["neighbours"]]


@pytest.mark.parametrize("path", [
    "/api/images/0000000000000000", "/images/0000000000000000", "/images/0000000000000000/file",
    "/images/0000000000000000/thumbnail", "/images/..%2F..%2F..%2Fetc%2Fpasswd/file",
    "/images/%2E%2E%2Fmanifest.json/file", "/images/manifest.json/file", "/images/..%2Fmanifest.json",
    "/nothing-here",
])
def test_unknown_ids_and_paths_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text and "succeeded" not in response.text


def test_photo_bytes_are_served_by_id(client, catalog):
    for row in (0, 17, 39):
        image_id = catalog.run.images.ids[row]
        response = client.get(f"/images/{image_id}/file")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.content == Path(catalog.run.images.paths[row][len("file:"):]).read_bytes()
        thumbnail = client.get(f"/images/{image_id}/thumbnail")
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(thumbnail.content)).size) <= 160


def test_evaluation_api(client, catalog):
    body = client.get("/api/evaluation").json()
    assert body["method"] == "test split" and body["n"] == 10
    assert body["accuracy"] == pytest.approx(catalog.evaluation.accuracy)
    assert np.asarray(body["confusion"]).sum() == 10 and body["n_correct"] == np.trace(body["confusion"])
    assert len(body["mistakes"]) == 10 - body["n_correct"]


def test_openapi_is_served_and_no_cdn_docs(client):
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Fruits! dashboard"
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
