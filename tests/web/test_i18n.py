"""The dashboard in French and English: catalogues complete, language negotiated and remembered, numbers and
dates written the way each language writes them, the API's sentences in the asked language."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from babel.messages.pofile import read_po

from fruits.identify import FruitFacts
from fruits.web.i18n import LOCALE_DIR, Messages, catalogue_path, negotiate, parse_accept_language
from fruits.web.i18n_messages import extract, problems

FRENCH = {"accept": "text/html", "accept-language": "fr-FR,fr;q=0.9,en;q=0.8"}
ENGLISH = {"accept": "text/html", "accept-language": "en-GB,en;q=0.9"}


@pytest.fixture(scope="module")
def extracted():
    return extract()


def test_every_message_of_the_code_is_in_the_french_catalogue(extracted):
    assert len([m for m in extracted if m.id]) > 150, "the extractor should find the templates' and code's messages"
    assert problems("fr", extracted) == []


def test_the_french_catalogue_holds_no_message_the_code_no_longer_uses(extracted):
    with catalogue_path("fr").open("rb") as po:
        catalogue = read_po(po, locale="fr")
    used = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    kept = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}
    assert kept - used == set()


def test_french_translations_keep_every_placeholder(extracted):
    """A translation that drops or renames %(name)s would crash or lie at run time."""
    with catalogue_path("fr").open("rb") as po:
        catalogue = read_po(po, locale="fr")
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)[sdr]|%%", ids[-1]))
        for string in strings:
            assert set(re.findall(r"%\(\w+\)[sdr]|%%", string)) - {"%(num)s"} <= wanted | {"%(num)s"}, message.id
            assert wanted - {"%(num)s"} <= set(re.findall(r"%\(\w+\)[sdr]|%%", string)), message.id


def test_every_kind_of_fruit_has_a_french_name():
    kinds = set(FruitFacts.load().kinds)
    names = json.loads((LOCALE_DIR / "kinds.fr.json").read_text(encoding="utf-8"))["kinds"]
    assert kinds - set(names) == set()
    assert Messages("fr").kind("passion fruit") == "fruit de la passion" and Messages("en").kind("apple") == "apple"


@pytest.mark.parametrize("header, expected", [
    ("fr-FR,fr;q=0.9,en;q=0.8", ["fr", "en"]),
    ("en-US,en;q=0.9,fr;q=0.8", ["en", "fr"]),
    ("de;q=0.5, fr-CA;q=0.7", ["fr", "de"]),
    ("*", ["*"]),
    ("fr;q=0, en", ["en"]),
    ("fr;q=abc, en", ["en"]),
    ("", []),
    (None, []),
    (" , ;q=1", []),
])
def test_accept_language_is_read_by_preference(header, expected):
    assert parse_accept_language(header) == expected


@pytest.mark.parametrize("cookie, header, expected", [
    (None, "fr-FR,fr;q=0.9", "fr"),
    (None, "de-DE,fr;q=0.5,en;q=0.4", "fr"),
    (None, "de-DE", "en"),
    (None, None, "en"),
    ("en", "fr-FR", "en"),  # the switch wins over the browser
    ("fr", "en-US", "fr"),
    ("xx", "fr-FR", "fr"),  # a cookie we do not speak is ignored
])
def test_negotiation(cookie, header, expected):
    assert negotiate(cookie, header) == expected


def test_numbers_and_dates_are_written_for_the_language():
    fr, en = Messages("fr"), Messages("en")
    assert fr.percent(0.936, 1) == "93,6\u00a0%" and en.percent(0.936, 1) == "93.6%"
    assert fr.percent(None) == "–" and en.percent(float("nan")) == "–"
    assert fr.number(14820) == "14\u202f820" and en.number(14820) == "14,820"
    assert fr.significant(0.01234) == "0,0123" and en.significant(0.01234) == "0.0123"
    assert fr.file_size(5 * 1024 * 1024 // 2) == "2,5 Mo" and en.file_size(2048) == "2.0 KB"
    assert fr.datetime("2026-12-01T10:00:00Z") == "1 déc. 2026, 10:00:00 UTC"
    assert en.datetime("2026-12-01T10:00:00Z").startswith("Dec 1, 2026")
    assert en.datetime("not a date") == "not a date"


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html.split("<main>")[1].split("</main>")[0]))


PAGES = ["/", "/images", "/identify", "/evaluation", "ITEM"]


@pytest.fixture(scope="module")
def item_id(catalog):
    return catalog.run.images.ids[list(catalog.run.images.splits).index("Test")]


@pytest.mark.parametrize("path", PAGES)
def test_a_french_browser_gets_every_page_in_french(client, item_id, path):
    path = f"/images/{item_id}" if path == "ITEM" else path
    french = client.get(path, headers=FRENCH)
    english = client.get(path, headers=ENGLISH)
    assert french.status_code == english.status_code == 200
    assert '<html lang="fr">' in french.text and '<html lang="en">' in english.text
    assert french.text != english.text
    with catalogue_path("fr").open("rb") as po:
        catalogue = read_po(po, locale="fr")
    # No sentence of the English page is left untranslated on the French one.
    leftovers = [m.id for m in catalogue if isinstance(m.id, str) and m.id != m.string and len(m.id) > 12
                 and "%" not in m.id and "<" not in m.id and m.id in _text(english.text) and m.id in _text(french.text)]
    assert leftovers == []


def test_home_page_in_french_formats_numbers_and_groups_by_kind(client, catalog):
    page = client.get("/", headers=FRENCH).text
    assert "Ce que montre ce tableau de bord" in page
    assert catalog.evaluation.accuracy is not None
    assert Messages("fr").percent(catalog.evaluation.accuracy, 1) in unescape(page)
    for kind in ("Citron", "Framboise", "Pomme", "Banane", "Orange"):
        assert f"{kind}\n" in page or f"{kind} " in page, kind


@pytest.fixture
def own_client(web_app):
    """A client with its own cookie jar: the switch's cookie must not leak into the other tests."""
    from fastapi.testclient import TestClient

    with TestClient(web_app) as test_client:
        yield test_client


def test_the_switch_is_remembered_in_a_cookie(own_client):
    client = own_client
    response = client.get("/language/fr", params={"next": "/evaluation?x=1"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/evaluation?x=1"
    assert re.search(r"lang=fr;.*Max-Age=31536000", response.headers["set-cookie"], re.I)
    page = client.get("/evaluation", headers={"accept": "text/html", "accept-language": "en-US",
                                              "cookie": "lang=fr"})
    assert '<html lang="fr">' in page.text and "Combien de fois" in page.text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil", "/\\evil.example"])
def test_the_switch_never_sends_a_visitor_to_another_site(own_client, target):
    client = own_client
    response = client.get("/language/en", params={"next": target}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_an_unknown_language_is_404(own_client):
    assert own_client.get("/language/de", follow_redirects=False).status_code == 404


def test_api_sentences_follow_the_language_and_field_names_stay_english(client, catalog, item_id):
    french = client.get(f"/api/images/{item_id}", headers={"accept-language": "fr"}).json()
    english = client.get(f"/api/images/{item_id}", headers={"accept-language": "en"}).json()
    assert french.keys() == english.keys()
    assert french["sentence"] != english["sentence"] and "photos les plus semblables" in french["sentence"]
    bad = client.get("/api/images", params={"min_score": "2"}, headers={"accept-language": "fr"})
    assert bad.status_code == 422 and "fraction entre 0 et 1" in bad.json()["detail"]
    missing = client.get("/api/images/0123456789abcdef", headers={"accept-language": "fr"})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "aucune photo de ce run ne porte cet identifiant"}


def test_an_oversized_upload_is_refused_in_french(client):
    from tests.web.conftest import UPLOAD_LIMIT

    response = client.post("/api/identify", content=b"\xff" * (UPLOAD_LIMIT + 1),
                           headers={"content-type": "image/jpeg", "accept-language": "fr"})
    assert response.status_code == 413 and "dépasse la limite" in response.json()["detail"]


def _request(language: str, path: str = "/identify"):
    from starlette.requests import Request

    return Request({"type": "http", "method": "POST", "path": path, "query_string": b"", "scheme": "http",
                    "server": ("testserver", 80), "headers": [(b"accept-language", language.encode())]})


ANSWER = {"confident": True, "kind": "apple", "kind_name": "Apple", "variety": "Apple Royal Gala",
          "familiarity": 0.83, "verdict": "Very likely an apple (Apple Royal Gala).",
          "kinds": [{"kind": "apple", "name": "Apple", "score": 0.91, "variety": "Apple Royal Gala"},
                    {"kind": "pear", "name": "Pear", "score": 0.05, "variety": "Pear Kaiser"}],
          "top": [{"label": "Apple Royal Gala", "kind": "apple", "name": "Apple", "score": 0.8, "votes": 12}],
          "sentence": "Likely ...", "neighbours_considered": 20, "similar": [], "card": None}


@pytest.mark.parametrize("language, lead, sentence", [
    ("en", "Apple", "Very likely an apple (Apple Royal Gala)."),
    ("fr", "Pomme", "Très probablement\u00a0: pomme (Apple Royal Gala)."),
])
def test_an_identify_answer_leads_with_the_kind_then_the_variety(language, lead, sentence):
    from fruits.web.dependencies import templates

    html = templates.get_template("identify.html").render(request=_request(language), answer=ANSWER, error=None,
                                                          preview=None, max_upload_bytes=1 << 20)
    assert f'data-testid="top-kind">{lead}</span>' in html
    assert 'data-testid="top-class">Apple Royal Gala<' in html and unescape(sentence) in unescape(html)
    assert 'data-testid="not-sure"' not in html


@pytest.mark.parametrize("language, lead, candidates", [("en", "Not sure", "Pear"), ("fr", "Pas sûr", "Poire")])
def test_an_unsure_identify_answer_says_so_and_shows_no_card(language, lead, candidates):
    from fruits.web.dependencies import templates

    answer = {**ANSWER, "confident": False, "verdict": "Not sure: perhaps an apple or a pear.", "card": None}
    html = templates.get_template("identify.html").render(request=_request(language), answer=answer, error=None,
                                                          preview=None, max_upload_bytes=1 << 20)
    assert f'data-testid="not-sure">{lead}</h2>' in html and 'data-testid="top-kind"' not in html
    assert candidates in html.split('data-testid="kinds"')[1] and 'data-testid="info-card"' not in html
