"""The run itself: the home page, its JSON summary, a health check, the FR/EN switch, and plotly.js served from
the plotly Python package (the dashboard works with no internet, so no CDN)."""

from __future__ import annotations

import gzip
import hashlib
import unicodedata
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..catalog import Catalog
from ..dependencies import get_catalog, get_messages, templates
from ..i18n import COOKIE, COOKIE_MAX_AGE, LANGUAGES, Messages

router = APIRouter(tags=["run"])
api = APIRouter(prefix="/api", tags=["run"])


def _folded(text: str) -> str:
    """Lower case without accents, so "peche" finds "pêche" and "Apple" finds "apple"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def matches(query: str, search: str) -> bool:
    """Every word of the query starts a word of the row ("red app" finds "Apple Red 1"; "apple" does not find
    "Pineapple"), ignoring case and accents. static/app.js filters the same way as one types."""
    words = search.split()
    return all(any(word.startswith(wanted) for word in words) for wanted in _folded(query).split())


def kind_groups(counts: dict[str, dict[str, int]], kind_for, kind_name) -> list[dict]:
    """The home table's rows grouped by fruit kind, kinds by name in the page's language, then labels.
    `kind_for(label)` is the kind (None when unknown), `kind_name(kind)` its name for people."""
    groups: dict[str, dict] = {}
    for label, per_split in counts.items():
        kind = kind_for(label) if label else None
        name = kind_name(kind) if kind else None
        group = groups.setdefault(kind or "", {"kind": kind, "name": name, "labels": [], "total": 0})
        group["labels"].append({"label": label, "counts": per_split, "total": sum(per_split.values())})
        group["total"] += sum(per_split.values())
    ordered = sorted(groups.values(), key=lambda g: (g["kind"] is None, _folded(g["name"] or "")))
    for group in ordered:
        group["labels"].sort(key=lambda row: _folded(row["label"]))
        words = [group["kind"] or "", group["name"] or ""] + [row["label"] for row in group["labels"]]
        group["search"] = _folded(" ".join(words))
        for row in group["labels"]:
            row["search"] = _folded(" ".join([group["kind"] or "", group["name"] or "", row["label"]]))
    return ordered


@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str = "", catalog: Catalog = Depends(get_catalog),
         messages: Messages = Depends(get_messages)):
    counts: dict[str, dict[str, int]] = {}
    images = catalog.run.images
    no_label = messages.gettext("no label")
    for label, split in zip(images.labels, images.splits):
        counts.setdefault(label or no_label, {}).setdefault(split or "all", 0)
        counts[label or no_label][split or "all"] += 1
    groups = kind_groups(counts, catalog.facts.kind_for, messages.kind)
    if q.strip():  # the same filter as the page's script, for browsers without it
        for group in groups:
            group["labels"] = [row for row in group["labels"] if matches(q, row["search"])]
        groups = [group for group in groups if group["labels"]]
    return templates.TemplateResponse(request, "home.html", {
        "run": catalog.run_summary(), "evaluation": catalog.evaluation, "groups": groups, "q": q,
        "n_kinds": len({catalog.facts.kind_for(c) or c for c in catalog.classes}),
        "columns": catalog.splits or ["all"]})


@router.get("/language/{language}", include_in_schema=False)
def choose_language(language: str, next: str = "/"):
    """The FR/EN switch: remembered in a cookie for a year, then back to the page it was clicked on."""
    if language not in LANGUAGES:
        raise HTTPException(404, "no such language")
    # Only a path of this site: never a redirect to another one ("//evil.example" or "https://...").
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, language, max_age=COOKIE_MAX_AGE, samesite="lax", httponly=True)
    return response


@api.get("/run")
def run_api(catalog: Catalog = Depends(get_catalog)):
    return {**catalog.run_summary(), "evaluation": {"method": catalog.evaluation.method,
                                                    "accuracy": catalog.evaluation.accuracy}}


@router.get("/healthz")
def health():
    return {"status": "ok"}


@lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, bytes, str]:
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    raw = path.read_bytes()
    return raw, gzip.compress(raw, compresslevel=6), hashlib.sha256(raw).hexdigest()[:16]


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly_js(request: Request):
    raw, packed, tag = _plotly_js()
    headers = {"Cache-Control": "public, max-age=86400", "ETag": f'"{tag}"', "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == f'"{tag}"':
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type="text/javascript", headers=headers)
