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
    assert "PCA(" in quoted


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
