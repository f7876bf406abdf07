"""Keep the message catalogues in step with the code: extract every msgid of the web layer (its Python modules
and templates) with Babel's extractors, and merge them into each language's .po.

    python -m fruits.web.i18n_messages check    # exit 1 and list what is missing or untranslated
    python -m fruits.web.i18n_messages update   # add new msgids (empty), mark vanished ones obsolete

Translations are then written in the .po by hand; the tests fail while one is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from .i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, catalogue_path

WEB_DIR = Path(__file__).resolve().parent
METHOD_MAP = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    """Every message the web layer can show, as a template catalogue (msgids with their source lines)."""
    catalog = Catalog(domain=DOMAIN, project="fruits", charset="utf-8")
    found = extract_from_dir(str(WEB_DIR), METHOD_MAP, options_map=OPTIONS, keywords=DEFAULT_KEYWORDS,
                             comment_tags=("Translators:",), strip_comment_tags=True)
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(f"src/fruits/web/{filename}", lineno)], auto_comments=comments,
                    context=context)
    return catalog


def problems(language: str, template: Catalog | None = None) -> list[str]:
    """Msgids of the code missing from `language`'s catalogue, or there but untranslated or fuzzy."""
    template = template or extract()
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    found = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        key = message.id if isinstance(message.id, str) else message.id[0]
        if entry is None:
            found.append(f"missing: {key!r}")
        elif entry.fuzzy or not all(entry.string if isinstance(entry.string, tuple) else (entry.string,)):
            found.append(f"untranslated: {key!r}")
    return found


def update(language: str) -> None:
    path = catalogue_path(language)
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    catalog.update(extract(), no_fuzzy_matching=True)
    with path.open("wb") as po:
        write_po(po, catalog, width=116, sort_output=False, ignore_obsolete=True, include_previous=False)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    others = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]
    if command == "update":
        for language in others:
            update(language)
        return 0
    if command == "check":
        failed = False
        for language in others:
            for problem in problems(language):
                print(f"{language}: {problem}")
                failed = True
        return 1 if failed else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
