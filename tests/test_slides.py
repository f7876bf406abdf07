"""The defence deck shows real code: every line of its code blocks exists in the source file it names.

A code block of docs/slides.md whose first line is `# src/...py · ...` is a quote of that file: when the code
changes, this test fails until the slide is copied again. Lines may be wrapped differently in the slide (a long
call on two lines): each slide line, whitespace collapsed, must be a piece of the file, whitespace collapsed.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLIDES = ROOT / "docs" / "slides.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
SOURCE = re.compile(r"#\s*(src/\S+\.py)")


def collapse(text: str) -> str:
    return " ".join(text.split())


def quoted_blocks() -> list[tuple[str, list[str]]]:
    blocks = []
    for body in BLOCK.findall(SLIDES.read_text(encoding="utf-8")):
        first, *lines = body.splitlines()
        match = SOURCE.match(first.strip())
        if match:
            blocks.append((match.group(1), [line for line in lines if line.strip()]))
    return blocks


def test_the_deck_quotes_code_for_the_broadcast_the_udf_and_the_pca():
    quoted = "\n".join(line for _source, lines in quoted_blocks() for line in lines)
    assert "sparkContext.broadcast(" in quoted
    assert "@pandas_udf" in quoted
    assert "eigh(" in quoted


@pytest.mark.parametrize("source, lines", quoted_blocks(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_quoted_line_is_in_its_source_file(source, lines):
    code = collapse((ROOT / source).read_text(encoding="utf-8"))
    missing = [line for line in lines if collapse(line) not in code]
    assert not missing, f"{source} no longer has these lines of docs/slides.md: {missing}"


def test_no_slide_refers_to_a_missing_figure():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", SLIDES.read_text(encoding="utf-8"))
    assert images
    missing = [image for image in images if not (SLIDES.parent / image).is_file()]
    assert not missing, f"docs/slides.md shows figures that do not exist: {missing}"


def _run_evidence(tmp_path, reports):
    import subprocess
    import sys

    slides = tmp_path / "slides.md"
    slides.write_text("# Preuve\n\n<!-- evidence:start -->\nold\n<!-- evidence:end -->\n", encoding="utf-8")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for name, report in reports.items():
        (evidence / name).write_text(report, encoding="utf-8")
    subprocess.run([sys.executable, str(ROOT / "docs" / "make_evidence.py"), "--evidence", str(evidence),
                    "--slides", str(slides)], check=True, capture_output=True)
    return slides.read_text(encoding="utf-8")


@pytest.mark.parametrize("reports", [{}, {"notes.json": "not json"}, {"other.json": '{"k": 3}'}],
                         ids=["none", "not-json", "not-a-run-report"])
def test_the_evidence_slide_says_not_yet_run_without_a_run_report(tmp_path, reports):
    text = _run_evidence(tmp_path, reports)
    assert "Pas encore exécuté sur AWS" in text
    assert "old" not in text


def test_the_evidence_slide_shows_the_newest_run_report(tmp_path):
    import json

    def report(cluster, generated, state):
        return json.dumps({
            "cluster_id": cluster, "release": "emr-7.9.0", "region": "eu-west-3", "generated_at": generated,
            "instances": [{"role": "MASTER", "type": "m5.xlarge", "count": 1},
                          {"role": "CORE", "type": "m5.xlarge", "count": 2}],
            "phases_s": {"startup_provisioning_and_bootstrap": 900.0, "step_running": 600.0, "cluster_total": 1620.0},
            "step": {"state": state, "state_reason": None},
            "manifest": {"status": "succeeded", "n_features": 14820, "n_errors": 0, "k": 7},
            "cost": {"estimate_usd": 0.37},
        })

    text = _run_evidence(tmp_path, {"a.json": report("j-OLD", "2026-12-01T10:00:00+00:00", "FAILED"),
                                    "b.json": report("j-NEW", "2026-12-02T10:00:00+00:00", "COMPLETED")})
    assert "j-NEW" in text and "j-OLD" not in text
    assert "Exécuté sur AWS" in text and "eu-west-3" in text and "14820 photos" in text
    assert "Pas encore" not in text
