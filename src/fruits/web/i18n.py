"""The dashboard's languages: English (the language of the code) and French, from gettext catalogues.

The French catalogue is the committed `locale/fr/LC_MESSAGES/messages.po`; it is compiled in memory the first
time it is needed (no build step, so a fresh clone and the wheel work alike). Fuzzy entries are not used.
The language of a request: the `lang` cookie set by the FR/EN switch, else the best of the browser's
Accept-Language, else English. Numbers, percentages and dates are formatted for that language with Babel.
"""

from __future__ import annotations

import gettext as gettext_module
import io
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent, get_decimal_symbol
from babel.support import Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "fr")  # English first: the default
DEFAULT_LANGUAGE = "en"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
DOMAIN = "messages"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(language: str) -> gettext_module.NullTranslations:
    """English is the msgids themselves; other languages come from their .po, compiled here once."""
    if language == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


@lru_cache(maxsize=None)
def kind_names(language: str) -> dict[str, str]:
    """Fruit kinds ('apple', 'passion fruit') in `language`, from locale/kinds.<language>.json; English is the
    kind itself. The kinds come from the package's fruit facts; their names here are the dashboard's."""
    if language == DEFAULT_LANGUAGE:
        return {}
    path = LOCALE_DIR / f"kinds.{language}.json"
    return json.loads(path.read_text(encoding="utf-8"))["kinds"] if path.exists() else {}


def parse_accept_language(header: str | None) -> list[str]:
    """'fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5' -> ['fr', 'en', '*']: primary language tags, most wanted first,
    each once; q=0 means "not this one"."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            wanted.append((-quality, position, tag.split("-")[0].split("_")[0]))
    seen: list[str] = []
    for _, _, language in sorted(wanted):
        if language not in seen:
            seen.append(language)
    return seen


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language when it is one we speak, else the browser's first that we speak, else English."""
    if cookie in LANGUAGES:
        return cookie
    for language in parse_accept_language(accept_language):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Messages:
    """Everything language-dependent for one request: translated strings, and numbers and dates formatted."""

    language: str

    def gettext(self, message: str, **variables) -> str:
        """As the templates' `_()`: always a %-format, so a literal % is written %% in every msgid."""
        return translations(self.language).gettext(message) % variables

    def ngettext(self, singular: str, plural: str, n: int, **variables) -> str:
        return translations(self.language).ngettext(singular, plural, n) % {"num": n, **variables}

    def kind(self, kind: str | None) -> str | None:
        """The name of a fruit kind ('apple' -> 'pomme' in French); None stays None."""
        if kind is None:
            return None
        return kind_names(self.language).get(kind, kind)

    def number(self, value: float | int | None, digits: int | None = None) -> str:
        if value is None:
            return "–"
        if digits is None:
            return format_decimal(value, locale=self.language)
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.language)

    def percent(self, value: float | None, digits: int = 0) -> str:
        """0.936 -> '93.6%' in English, '93,6 %' in French (a no-break space before %, as French writes it)."""
        if value is None or value != value:  # None or NaN
            return "–"
        sign = "\u00a0%" if self.language == "fr" else "%"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + sign
        return format_percent(value, format=pattern, locale=self.language)

    def significant(self, value: float, digits: int = 3) -> str:
        """3 significant digits: distances and coordinates range from thousandths (random weights) to tens."""
        text = f"{value:.{digits}g}"
        return text if "e" in text else text.replace(".", get_decimal_symbol(self.language))

    def file_size(self, size: int | None) -> str:
        if size is None:
            return "–"
        units = ("bytes", "KB", "MB", "GB") if self.language == "en" else ("octets", "Ko", "Mo", "Go")
        value = float(size)
        for unit in units:
            if value < 1024 or unit == units[-1]:
                return f"{value:.0f} {unit}" if unit == units[0] else f"{self.number(value, 1)} {unit}"
            value /= 1024
        return str(size)

    def datetime(self, text: str | None) -> str:
        """An ISO 8601 time of the manifest, written out for people ('1 déc. 2026, 11:25:48 UTC')."""
        if not text:
            return "–"
        try:
            moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return str(text)
        return format_datetime(moment, format="medium", locale=self.language) + (
            " UTC" if moment.utcoffset() is not None and not moment.utcoffset() else "")


def language_of(request: Request) -> str:
    """The request's language, negotiated once and kept on request.state."""
    language = getattr(request.state, "language", None)
    if language is None:
        language = negotiate(request.cookies.get(COOKIE), request.headers.get("accept-language"))
        request.state.language = language
    return language


def messages_for(request: Request) -> Messages:
    return Messages(language_of(request))
