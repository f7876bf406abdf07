"""`fruits serve` and `fruits evaluate` as a user meets them: exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli as _run


@pytest.mark.parametrize("setup, words", [
    (lambda tmp: tmp / "missing", "OUTPUT not found"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no manifest.json"),
])
@pytest.mark.parametrize("command", ["serve", "evaluate", "identify"])
def test_missing_or_incomplete_output_exits_2_with_one_line(capsys, tmp_path, setup, words, command):
    extra = [str(tmp_path / "photo.jpg")] if command == "identify" else []
    code, out, err = _run(capsys, command, str(setup(tmp_path)), *extra)
    assert code == 2 and out == ""
    assert err.startswith("fruits: error: ") and words in err and err.count("\n") == 1


@pytest.mark.parametrize("flags, words", [
    (["--port", "70000"], "--port"), (["--neighbours", "0"], "--neighbours"), (["--max-upload-mb", "0"], "upload"),
])
def test_serve_bad_flags_exit_2_before_starting(capsys, synthetic_run, flags, words):
    code, _, err = _run(capsys, "serve", str(synthetic_run), *flags)
    assert code == 2 and words in err and err.count("\n") == 1


def test_evaluate_prints_accuracy_and_the_confusion_matrix(capsys, synthetic_run):
    code, out, _ = _run(capsys, "evaluate", str(synthetic_run), "--neighbours", "5")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("top-1 accuracy on the Test split") and "k=5" in lines[0]
    assert lines[1].startswith("confusion matrix") and lines[3 + 5].startswith("per input")  # header + 5 classes
    # The synthetic photos sit in Training/ and Test/ directly: the input of a photo is that first folder.
    assert lines[9].strip().startswith("Test: 10 Test photos") and "kind top-1" in lines[9]
    code, out, _ = _run(capsys, "evaluate", str(synthetic_run), "--json")
    body = json.loads(out)
    assert code == 0 and body["method"] == "test split" and body["n"] == 10
    assert sum(map(sum, body["confusion"])) == 10
    (only,) = body["by_input"]["inputs"]
    assert only["input"] == "Test" and only["n"] == 10 and 0 <= only["kind_top1"] <= only["kind_top3"] <= 1
    assert only["label_top1"] <= only["label_top3"] and set(only["per_class_recall"]) <= set(body["classes"])
    assert body["by_input"]["method"].startswith("logistic")  # the run's classifier/
