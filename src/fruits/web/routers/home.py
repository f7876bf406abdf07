"""The run itself: the home page, its JSON summary, a health check, and plotly.js served from the plotly
Python package (the dashboard works with no internet, so no CDN)."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ..catalog import Catalog
from ..dependencies import get_catalog, templates

router = APIRouter(tags=["run"])
api = APIRouter(prefix="/api", tags=["run"])


@router.get("/", response_class=HTMLResponse)
def home(request: Request, catalog: Catalog = Depends(get_catalog)):
    counts = {}
    images = catalog.run.images
    for label, split in zip(images.labels, images.splits):
        counts.setdefault(label or "no label", {}).setdefault(split or "all", 0)
        counts[label or "no label"][split or "all"] += 1
    return templates.TemplateResponse(request, "home.html", {
        "run": catalog.run_summary(), "evaluation": catalog.evaluation, "counts": counts,
        "columns": catalog.splits or ["all"]})


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
