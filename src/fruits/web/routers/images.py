"""Images: the browse page with filters, the item page, the photo and thumbnail bytes, and their JSON API.

A photo is always named by its id; the id is looked up in the run's table and the stored location read through
the Store. Nothing from the request is ever joined into a path.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from .. import charts
from ..catalog import SORTS, Catalog, ImageFilter
from ..dependencies import get_catalog, get_messages, templates
from ..i18n import Messages

router = APIRouter(tags=["images"])
api = APIRouter(prefix="/api", tags=["images"])

_SCORE_EDGES = np.linspace(0.0, 1.0, 21)
_BRIGHTNESS_EDGES = np.linspace(0.0, 1.0, 21)
_HUE_EDGES = np.linspace(0.0, 360.0, 25)


def _fraction(text: str | None, name: str, t: Messages) -> float | None:
    """Form selects send '' for "any"; anything else must be a fraction from 0 to 1."""
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise HTTPException(422, t.gettext("bad %(name)s %(value)r: give a fraction from 0 to 1 (0.9 means 90%%)",
                                           name=name, value=text))
    return value


def _choice(text: str | None, allowed, name: str, t: Messages) -> str | None:
    if not text:
        return None
    if text not in allowed:
        raise HTTPException(422, t.gettext("bad %(name)s %(value)r: choose one of %(choices)s", name=name,
                                           value=text, choices=", ".join(map(str, allowed))))
    return text


def image_filter(catalog: Catalog = Depends(get_catalog), t: Messages = Depends(get_messages),
                 label: str | None = None, split: str | None = None, predicted: str | None = None,
                 min_score: str | None = None, max_score: str | None = None, mistakes: str | None = None,
                 sort: str | None = None) -> ImageFilter:
    return ImageFilter(
        label=_choice(label, catalog.labels, "label", t),
        split=_choice(split, catalog.splits, "split", t),
        predicted=_choice(predicted, catalog.classes, "predicted", t),
        min_score=_fraction(min_score, "min_score", t),
        max_score=_fraction(max_score, "max_score", t),
        mistakes=(mistakes or "").lower() in ("1", "true", "on", "yes"),
        sort=_choice(sort, SORTS, "sort", t) or "name",
    )


def _page(rows: np.ndarray, page: int, size: int, t: Messages) -> tuple[np.ndarray, int]:
    pages = max(1, math.ceil(len(rows) / size))
    if page < 1 or page > pages:
        raise HTTPException(404, t.gettext("no page %(page)s: there are %(pages)s", page=page, pages=pages))
    return rows[(page - 1) * size : page * size], pages


def _query_string(query: ImageFilter, page: int) -> str:
    params = {"label": query.label, "split": query.split, "predicted": query.predicted,
              "min_score": query.min_score, "max_score": query.max_score,
              "mistakes": "1" if query.mistakes else None, "sort": None if query.sort == "name" else query.sort,
              "page": page if page > 1 else None}
    return urlencode({k: v for k, v in params.items() if v is not None})


def _with_urls(item: dict) -> dict:
    return {**item, "page_url": f"/images/{item['id']}", "thumbnail_url": f"/images/{item['id']}/thumbnail",
            "file_url": f"/images/{item['id']}/file"}


@router.get("/images", response_class=HTMLResponse)
def browse(request: Request, page: int = 1, query: ImageFilter = Depends(image_filter),
           catalog: Catalog = Depends(get_catalog), t: Messages = Depends(get_messages)):
    rows = catalog.search(query)
    shown, pages = _page(rows, page, catalog.settings.page_size, t)
    return templates.TemplateResponse(request, "browse.html", {
        "query": query, "items": catalog.summaries(shown, t), "total": len(rows),
        "all_total": len(catalog.run.images), "page": page, "pages": pages,
        "labels": catalog.labels,
        "classes": catalog.classes, "splits": catalog.splits,
        "previous_url": f"/images?{_query_string(query, page - 1)}" if page > 1 else None,
        "next_url": f"/images?{_query_string(query, page + 1)}" if page < pages else None,
    })


@api.get("/images")
def list_images(page: int = 1, per_page: int = 100, query: ImageFilter = Depends(image_filter),
                catalog: Catalog = Depends(get_catalog), t: Messages = Depends(get_messages)):
    if not 1 <= per_page <= 1000:
        raise HTTPException(422, t.gettext("bad per_page: give 1 to 1000"))
    rows = catalog.search(query)
    shown, pages = _page(rows, page, per_page, t)
    return {"total": len(rows), "page": page, "pages": pages,
            "items": [_with_urls(item) for item in catalog.summaries(shown, t)]}


def _detail(catalog: Catalog, row: int, t: Messages) -> dict:
    description = catalog.photos.description(row)
    found = catalog.neighbours(row)
    neighbours = [{**_with_urls(item), "distance": d}
                  for item, (_, d) in zip(catalog.summaries([r for r, _ in found], t), found)]
    coords = catalog.run.images.coords[row]
    return {**_with_urls(catalog.summary(row, t)),
            "description": description.to_dict() if description else None,
            "pca_coordinates": [float(f"{c:.4g}") for c in coords[:5]],
            "neighbours": neighbours,
            "card": catalog.facts.card(catalog.run.images.labels[row] or str(catalog.assessment.predicted[row]))}


@api.get("/images/{image_id}")
def image_detail(image_id: str, catalog: Catalog = Depends(get_catalog), t: Messages = Depends(get_messages)):
    return _detail(catalog, catalog.row(image_id), t)


def _comparison_charts(catalog: Catalog, row: int, t: Messages) -> dict[str, dict]:
    images = catalog.run.images
    label = images.labels[row]
    predicted = str(catalog.assessment.predicted[row])
    group = images.labels == label if label is not None else catalog.assessment.predicted == predicted
    group_name = (t.gettext("photos labelled %(label)s", label=label) if label is not None
                  else t.gettext("photos predicted %(label)s", label=predicted))
    neighbour_rows = catalog.all_neighbour_rows(row)
    measures = catalog.measures([row, *neighbour_rows])
    brightness, hue = measures["brightness"], measures["hue"]
    score = catalog.assessment.score
    return {
        "gauge": charts.score_gauge(float(score[row]), t),
        "score": charts.distribution(t.gettext("Score"), score, float(score[row]), score[group], group_name,
                                     score[neighbour_rows], _SCORE_EDGES,
                                     t.gettext("score of the predicted class (%%)"), t, percent_axis=True),
        "brightness": charts.distribution(t.gettext("Brightness"), brightness, brightness[row], brightness[group],
                                          group_name, brightness[neighbour_rows], _BRIGHTNESS_EDGES,
                                          t.gettext("mean brightness (%%)"), t, percent_axis=True),
        "colour": charts.distribution(t.gettext("Colour"), hue, hue[row], hue[group], group_name,
                                      hue[neighbour_rows], _HUE_EDGES, t.gettext("hue of the dominant colour (°)"),
                                      t, bar_colours=charts.hue_colours(_HUE_EDGES)),
        "map": charts.pca_map(images.coords, images.labels, catalog.facts.kind_for, row, neighbour_rows,
                              catalog.settings.map_points, catalog.run.projection.explained_variance_ratio,
                              images.ids, t),
    }


@router.get("/images/{image_id}", response_class=HTMLResponse)
def item_page(request: Request, image_id: str, catalog: Catalog = Depends(get_catalog),
              t: Messages = Depends(get_messages)):
    row = catalog.row(image_id)
    return templates.TemplateResponse(request, "item.html", {
        "item": _detail(catalog, row, t), "charts": _comparison_charts(catalog, row, t), "k": catalog.k,
        "k_pca": catalog.run.projection.k,
    })


def _image_type(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"


@router.get("/images/{image_id}/file")
async def image_file(image_id: str, catalog: Catalog = Depends(get_catalog)):
    data = await run_in_threadpool(catalog.photos.read, catalog.row(image_id))
    return Response(data, media_type=_image_type(data), headers={"Cache-Control": "private, max-age=3600"})


@router.get("/images/{image_id}/thumbnail")
async def image_thumbnail(image_id: str, catalog: Catalog = Depends(get_catalog)):
    data = await run_in_threadpool(catalog.photos.thumbnail, catalog.row(image_id))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
