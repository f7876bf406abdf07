"""The server-rendered pages: what a visitor sees, and that everything they load comes from the app."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

HTML = {"accept": "text/html"}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.plots, self._in_plot, self.testids = [], [], False, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "action"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if attrs.get("data-testid"):
            self.testids.append(attrs["data-testid"])
        self._in_plot = tag == "script" and attrs.get("type") == "application/json"

    def handle_data(self, data):
        if self._in_plot:
            self.plots.append(json.loads(data))
            self._in_plot = False


def _page(client, path):
    response = client.get(path, headers=HTML)
    assert response.status_code == 200, (path, response.text[:300])
    parser = _Links()
    parser.feed(response.text)
    return response, parser


@pytest.fixture(scope="module")
def test_item_id(catalog):
    return catalog.run.images.ids[list(catalog.run.images.splits).index("Test")]


PAGES = ["/", "/?q=lemon", "/images", "/images?label=lemon&split=Test", "/identify", "/evaluation"]


@pytest.mark.parametrize("path", PAGES + ["ITEM"])
def test_every_page_loads_only_from_the_app(client, test_item_id, path):
    response, parser = _page(client, f"/images/{test_item_id}" if path == "ITEM" else path)
    assert parser.urls
    for url in parser.urls:
        assert url.startswith(("/", "#", "?")) and not url.startswith("//"), f"external resource {url} on {path}"
        if url.startswith(("/static/", "/vendor/")):
            assert client.get(url).status_code == 200, url
    assert not re.search(r"https?://", response.text.split("<footer")[0].split("<main>")[0]), "no CDN in <head>"
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text, "inline scripts are forbidden by the CSP"


def test_plotly_comes_from_the_python_package_and_is_compressed(client):
    import plotly
    from pathlib import Path

    original = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    packed = client.get("/vendor/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert packed.content == original and packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(original) / 3
    again = client.get("/vendor/plotly.min.js", headers={"if-none-match": packed.headers["etag"]})
    assert again.status_code == 304


def test_home_page_explains_the_score(client):
    response, _ = _page(client, "/")
    assert "most similar" in response.text and "score" in response.text and "40</span> photos" in response.text


def test_browse_page_filters_and_pages(client, catalog):
    response, parser = _page(client, "/images")
    assert parser.testids.count("thumb") == 10 and "page 1 of 4" in response.text and 'rel="next"' in response.text
    response, parser = _page(client, "/images?label=lemon&split=Test")
    expected = int(((catalog.run.images.labels == "lemon") & (catalog.run.images.splits == "Test")).sum())
    assert parser.testids.count("thumb") == expected == 2
    assert re.search(r"<strong>2</strong> of 40 photos match", response.text)
    captions = re.findall(r'<span class="caption">\s*<strong>([^<]+)</strong>', response.text)
    assert captions == ["lemon", "lemon"]
    response, parser = _page(client, "/images?mistakes=1&min_score=&max_score=&predicted=&sort=score_asc")
    assert parser.testids.count("thumb") == min(10, len(catalog.mistakes()))
    assert client.get("/images?min_score=2", headers=HTML).status_code == 422


def test_item_page_shows_score_description_comparisons_and_neighbours(client, catalog, test_item_id):
    response, parser = _page(client, f"/images/{test_item_id}")
    summary = catalog.summary(catalog.row(test_item_id))
    assert f"Looks like: {summary['predicted']}" in response.text and summary["sentence"] in response.text
    assert ("agrees with its label" if summary["correct"] else "disagrees with its label") in response.text
    for words in ("Pixel size", "100 × 100 pixels", "File size", "Mean brightness", "Dominant colour",
                  "first PCA coordinates"):
        assert words in response.text
    kinds = [[trace["type"] for trace in plot["data"]] for plot in parser.plots]
    assert kinds[0] == ["indicator"]  # the gauge
    assert sum(1 for k in kinds if k[:2] == ["bar", "bar"]) == 3  # score, brightness, colour histograms
    pca_map = parser.plots[-1]
    names = [trace["name"] for trace in pca_map["data"]]
    assert names[-2:] == ["Its most similar photos", "This photo"]
    assert len(pca_map["data"][-2]["x"]) == catalog.k
    assert parser.testids.count("thumb") == 12  # the neighbour gallery


def test_identify_page_works_on_a_phone(client):
    response, parser = _page(client, "/identify")
    assert 'accept="image/*" capture="environment"' in response.text
    assert 'name="viewport"' in response.text and 'enctype="multipart/form-data"' in response.text
    assert "not stored" in response.text and "GPS" in response.text and "privacy" in parser.testids


def test_evaluation_page(client, catalog):
    response, parser = _page(client, "/evaluation")
    assert f"{100 * catalog.evaluation.accuracy:.1f}%" in response.text
    assert "confusion" in parser.testids and parser.plots[0]["data"][0]["type"] == "heatmap"
    heatmap = parser.plots[0]["data"][0]
    assert "texttemplate" not in heatmap, "no numbers in the cells"
    assert heatmap["customdata"] == catalog.evaluation.confusion.tolist()
    recall = re.findall(r'<li>.*?<a href="/images\?label=([^"]+)">', response.text.split('data-testid="recall"')[1],
                        re.S)
    assert len(recall) == len(catalog.evaluation.classes)


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_evaluation_at_114_classes_lists_pairs_and_recall_and_a_compact_heatmap(client_114):
    response, parser = _page(client_114, "/evaluation")
    evaluation = client_114.app.state.catalog.evaluation
    assert len(evaluation.classes) >= 114
    heatmap = parser.plots[0]
    assert heatmap["layout"]["height"] <= 760 and heatmap["layout"]["xaxis"]["showticklabels"] is False
    assert "texttemplate" not in heatmap["data"][0]
    # The confused pairs: off-diagonal cells, most photos first, as many as the API lists.
    rows = re.findall(r"<tr><td><a [^>]+>([^<]+)</a></td>\s*<td>([^<]+?)(?: <small| ?</td>)",
                      _between(response.text, 'data-testid="pairs"', "</table>"))
    api_pairs = client_114.get("/api/evaluation").json()["confused_pairs"]
    assert rows and [(a, b.strip()) for a, b in rows] == [(p["true"], p["predicted"]) for p in api_pairs[:len(rows)]]
    counts = [p["count"] for p in api_pairs]
    assert counts == sorted(counts, reverse=True)
    # Every class once, worst recall first.
    items = re.findall(r"--share: ([\d.]+)%", _between(response.text, 'data-testid="recall"', "</ol>"))
    assert len(items) == len(evaluation.classes)
    assert [float(v) for v in items] == sorted(float(v) for v in items)
    assert "<table class=\"confusion\"" not in response.text


def test_home_at_114_classes_groups_by_kind_with_a_filter(client_114):
    from fruits.identify import FruitFacts

    facts = FruitFacts.load()
    catalog = client_114.app.state.catalog
    response, _ = _page(client_114, "/")
    kinds = {facts.kind_for(c) for c in catalog.classes}
    assert response.text.count('<tbody class="kind"') == len(kinds) < len(catalog.classes)
    assert response.text.count('class="label-row"') == len(catalog.classes)
    assert 'id="kind-filter"' in response.text
    # Without script the same filter runs on the server: the kind, its French name, or the variety.
    apples = [c for c in catalog.classes if facts.kind_for(c) == "apple"]
    french = {**HTML, "accept-language": "fr"}
    for query, headers, kind in (("apple", HTML, "apple"), ("APPLE", HTML, "apple"), ("Poire", french, "pear"),
                                 ("peche", french, "peach"), ("pêche", french, "peach")):
        filtered = client_114.get("/", params={"q": query}, headers=headers)
        expected = [c for c in catalog.classes if facts.kind_for(c) == kind]
        assert filtered.status_code == 200 and filtered.text.count('class="label-row"') == len(expected), query
    granny, _ = _page(client_114, "/?q=granny")
    assert granny.text.count('class="label-row"') == 1 and "Apple Granny Smith" in granny.text
    assert _page(client_114, "/?q=red+app")[0].text.count('class="label-row"') == len(
        [c for c in apples if " Red" in c])
    nothing, _ = _page(client_114, "/?q=durian")
    assert nothing.text.count('class="label-row"') == 0 and 'id="kind-filter-empty" hidden' not in nothing.text


def test_item_map_at_114_classes_colours_kinds_with_the_variety_on_hover(client_114):
    catalog = client_114.app.state.catalog
    row = list(catalog.run.images.splits).index("Test")
    response, parser = _page(client_114, f"/images/{catalog.run.images.ids[row]}")
    pca_map = parser.plots[-1]
    names = [trace["name"] for trace in pca_map["data"]]
    assert names[-2:] == ["Its most similar photos", "This photo"]
    kinds = names[:-2]
    assert len(kinds) <= 10 and "other kinds" in kinds
    own_kind = catalog.facts.kind_for(catalog.run.images.labels[row])
    assert kinds[0] == own_kind.capitalize(), "the photo's own kind comes first in the legend"
    hover = [text for trace in pca_map["data"][:-2] for text in trace["text"]]
    assert sum(len(trace["x"]) for trace in pca_map["data"][:-2]) == len(catalog.run.images)
    assert any(text.startswith("Apple Granny Smith (apple)") for text in hover)


def test_errors_are_pages_for_people_and_json_for_programs(client):
    page = client.get("/images/0123456789abcdef", headers=HTML)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "no photo" in page.text
    api = client.get("/api/images/0123456789abcdef")
    assert api.status_code == 404 and api.json() == {"detail": "no photo with this id in the run"}
