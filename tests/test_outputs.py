"""The typed manifest: what the job writes is what every reader gets back; anything else is one clear error."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from fruits import outputs
from fruits.errors import RunOutputError
from fruits.outputs import ClassifierInfo, InputCounts, Limits, Manifest, WeightsInfo, parse_manifest

A_CLASSIFIER = ClassifierInfo(file="classifier/model.json", labels=2, fitted_by="pyspark.ml LogisticRegression",
                              regularisation=1e-3, max_iterations=100, iterations=56, n_references=14, seconds=3.5)


def a_manifest(**changes) -> Manifest:
    manifest = Manifest(
        inputs=(InputCounts("file:///data/fruits-360", 10, 9, 1), InputCounts("s3://b/grocery", 5, 5, 0)),
        output="file:///runs/out",
        n_input=15, n_features=14, n_errors=1,
        labels={"Apple Red 1": 8, "Satsuma": 6},
        k=7, k_source="variance", variance_target=0.95, cumulative_variance=0.9512,
        feature_dim=1280, image_size=160, engine="litert", batch_size=2,
        limits=Limits(max_bytes=50 * 1024**2, max_pixels=40_000_000),
        weights=WeightsInfo(spec="/models/w.weights.h5", source="file /models/w.weights.h5", sha256="a" * 64,
                            file_sha256="b" * 64, broadcast_bytes=9_000_000, warning=None),
        master="local[2]", started_at="2026-12-01T10:00:00+00:00", finished_at="2026-12-01T10:05:00+00:00",
        timings_s={"featurize": 12.5, "total": 30.0},
        featurize_counters={"model_builds": 2}, broadcast={"engine_payload_bytes": 123},
        versions={"fruits": "0.1.0"},
    )
    return dataclasses.replace(manifest, **changes)


@pytest.mark.parametrize("manifest", [a_manifest(), a_manifest(variance_target=None, k_source="k"),
                                      a_manifest(weights=WeightsInfo("random:3", "random:3", "c" * 64)),
                                      a_manifest(classifier=A_CLASSIFIER),
                                      a_manifest(classifier=dataclasses.replace(A_CLASSIFIER, standardization=False))])
def test_the_manifest_round_trips_through_json(manifest):
    text = manifest.to_json()
    assert parse_manifest(text) == manifest
    assert parse_manifest(text.encode()) == manifest
    data = json.loads(text)
    assert data["manifest_version"] == outputs.MANIFEST_VERSION and data["status"] == "succeeded"
    assert data["inputs"][1] == {"uri": "s3://b/grocery", "n_input": 5, "n_features": 5, "n_errors": 0,
                                 "n_skipped": 0}


def test_a_classifier_recorded_before_standardization_was_is_standardised():
    data = a_manifest(classifier=A_CLASSIFIER).to_dict()
    del data["classifier"]["standardization"]
    assert parse_manifest(json.dumps(data)).classifier.standardization is True


def test_a_manifest_written_before_feature_layers_reads_as_the_top_layer():
    data = a_manifest().to_dict()
    del data["feature_layer"]
    assert parse_manifest(json.dumps(data)).feature_layer == "top"


def test_a_version_2_manifest_written_before_classifiers_still_parses():
    data = a_manifest(classifier=A_CLASSIFIER).to_dict()
    del data["classifier"]
    assert parse_manifest(json.dumps(data)).classifier is None


def _broken(edit):
    data = a_manifest().to_dict()
    edit(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d.pop("k"), "field k"),
        (lambda d: d["weights"].pop("sha256"), "field weights.sha256"),
        (lambda d: d.update(k="seven"), "field k should be a whole number"),
        (lambda d: d.update(k=True), "field k should be a whole number"),
        (lambda d: d.update(inputs="file:///data"), "field inputs should be a list"),
        (lambda d: d["inputs"][1].pop("n_errors"), "field inputs[1].n_errors"),
        (lambda d: d["limits"].update(max_bytes=None), "field limits.max_bytes"),
        (lambda d: d.update(labels={"apple": "many"}), "field labels.apple"),
        (lambda d: d.update(weights="imagenet"), "field weights should be an object"),
        (lambda d: d.update(status="failed"), "field status is 'failed'"),
        (lambda d: d.pop("manifest_version"), "field manifest_version is None"),
        (lambda d: d.update(manifest_version=3), "upgrade fruits"),
        (lambda d: d.update(classifier={"file": "classifier/model.json"}), "field classifier.labels"),
        (lambda d: d.update(classifier={**A_CLASSIFIER.__dict__, "standardization": "no"}),
         "field classifier.standardization should be true or false"),
        (lambda d: d.update(classifier={**A_CLASSIFIER.__dict__, "standardization": 0}),
         "field classifier.standardization should be true or false"),
    ],
    ids=["missing", "missing-nested", "wrong-type", "bool-for-int", "str-for-list", "missing-in-list",
         "null", "dict-value", "str-for-object", "failed-run", "no-version", "newer-version",
         "incomplete-classifier", "str-for-bool", "int-for-bool"],
)
def test_a_broken_manifest_is_one_error_naming_the_field(edit, field):
    with pytest.raises(RunOutputError) as caught:
        parse_manifest(_broken(edit), where="out/manifest.json")
    message = str(caught.value)
    assert field in message and message.startswith("out/manifest.json") and "\n" not in message


def test_a_version_1_manifest_names_the_version_and_says_to_rerun():
    """What `fruits run` wrote before the typed manifest (an untyped dict with `input`)."""
    old = copy.deepcopy(a_manifest().to_dict())
    old.pop("inputs")
    old.update(manifest_version=1, input="file:///data")
    with pytest.raises(RunOutputError, match=r"field manifest_version is 1, this fruits reads version 2; re-run"):
        parse_manifest(json.dumps(old))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"a string"'])
def test_not_a_manifest_at_all(text):
    with pytest.raises(RunOutputError, match="manifest"):
        parse_manifest(text)
