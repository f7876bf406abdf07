"""`fruits run` and `fruits sample` as a user meets them: exit codes and one-line errors."""

import json
import subprocess
import sys

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--image-size", "8"], "--image-size"),
        (["--image-size", "abc"], "--image-size"),
        (["--variance", "1.5"], "--variance"),
        (["--variance", "0"], "--variance"),
        (["--k", "0"], "--k"),
        (["--k", "5000"], "--k"),
        (["--k", "3", "--variance", "0.9"], "not allowed with"),
        (["--weights", "random:seed"], "--weights"),
        (["--batch-size", "0"], "--batch-size"),
        (["--max-bytes", "lots"], "--max-bytes"),
        (["--engine", "onnx"], "--engine"),
        (["--conf", "novalue"], "KEY=VALUE"),
        (["--config", "/nonexistent.toml"], "config file not found"),
        (["--feature-layer", "out_relu"], "--feature-layer"),
        (["--reference-views", "/elsewhere"], "--reference-views '/elsewhere' is not one of the INPUTs"),
        (["--reference-views"], "--reference-views"),
        # checked before Spark starts: a typo costs a second, not the JVM's start-up
        (["--weights", "/nonexistent/w.weights.h5"], "weights file not found"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, tmp_path, flags, message):
    code, _, err = run_cli(capsys, "run", str(tmp_path), str(tmp_path / "out"), *flags)
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("fruits: error:")]
    assert len(errors) == 1 and message in errors[0], err


def test_run_through_the_cli_on_the_shared_session(capsys, spark, synthetic_photos, tmp_path):
    output = tmp_path / "out"
    code, out, err = run_cli(capsys, "run", str(synthetic_photos), str(output), "--weights", "random:1",
                             "--image-size", "64", "--k", "3", "--engine", "keras")
    assert code == 0, err
    assert "40 of 40 images featurized" in out and str(output) in out
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["engine"] == "keras" and manifest["k"] == 3
    assert not spark.sparkContext._jsc.sc().isStopped()  # the caller's session is left running


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp, photos: [str(tmp / "missing"), str(tmp / "o")], "INPUT not found"),
        (lambda tmp, photos: [str(photos), str((tmp / "file").write_text("x") and tmp / "file" / "o")],
         "cannot write to OUTPUT"),
    ],
    ids=["missing-input", "unwritable-output"],
)
def test_user_errors_show_no_java_stack_trace(tmp_path, synthetic_photos, shared_weights, make_args, message):
    """A real `fruits` process: what the user sees on the terminal. (A weights file: with its digest cached the
    process loads no TensorFlow, which random weights cost it while Spark lists INPUT.)"""
    args = make_args(tmp_path, synthetic_photos)
    process = subprocess.run(
        [sys.executable, "-m", "fruits", "-q", "run", *args, "--weights", str(shared_weights), "--image-size", "32"],
        capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 2, process.stderr
    lines = [line for line in process.stderr.splitlines() if line.startswith("fruits:")]
    assert lines == [line for line in lines if message in line] and len(lines) == 1
    assert "Traceback" not in process.stderr and "\tat org.apache" not in process.stderr
    assert "Py4J" not in process.stderr


def test_sample_writes_the_fruits_360_layout(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "sample", str(tmp_path / "s"), "--n-per-class", "4", "--seed", "1")
    assert code == 0 and "wrote 15 training and 5 test photos" in out
    assert len(list((tmp_path / "s" / "Training").glob("*/*.jpg"))) == 15
    assert sorted(p.name for p in (tmp_path / "s" / "Test").iterdir()) == [
        "apple", "banana", "lemon", "orange", "raspberry"]
    first = (tmp_path / "s" / "Test" / "apple" / "apple_0000.jpg").read_bytes()
    run_cli(capsys, "sample", str(tmp_path / "t"), "--n-per-class", "4", "--seed", "1")
    assert (tmp_path / "t" / "Test" / "apple" / "apple_0000.jpg").read_bytes() == first  # same seed, same photos


@pytest.mark.parametrize("flags, message", [(["--n-per-class", "0"], "--n-per-class"),
                                            (["--test-fraction", "1.5"], "--test-fraction")])
def test_sample_bad_flags(capsys, tmp_path, flags, message):
    code, _, err = run_cli(capsys, "sample", str(tmp_path / "s"), *flags)
    assert code == 2 and message in err
