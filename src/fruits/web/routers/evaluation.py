"""Evaluation: how often the classifier is right on photos it has not memorised, and where it goes wrong."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from .. import charts
from ..catalog import Catalog
from ..dependencies import get_catalog, templates

router = APIRouter(tags=["evaluation"])
api = APIRouter(prefix="/api", tags=["evaluation"])

_MISTAKES_SHOWN = 60


def _mistakes(catalog: Catalog) -> list[dict]:
    rows = catalog.mistakes()
    if catalog.evaluation.method == "test split":
        rows = [r for r in rows if catalog.run.images.splits[r] == "Test"]
    return [catalog.summary(r) for r in rows]


@api.get("/evaluation")
def evaluation_api(catalog: Catalog = Depends(get_catalog)):
    mistakes = _mistakes(catalog)
    return {**catalog.evaluation.to_dict(), "mistakes": [
        {"id": m["id"], "label": m["label"], "predicted": m["predicted"], "score": m["score"],
         "page_url": f"/images/{m['id']}"} for m in mistakes]}


@router.get("/evaluation", response_class=HTMLResponse)
def evaluation_page(request: Request, catalog: Catalog = Depends(get_catalog)):
    evaluation = catalog.evaluation
    mistakes = _mistakes(catalog)
    return templates.TemplateResponse(request, "evaluation.html", {
        "evaluation": evaluation, "recall": evaluation.per_class_recall(),
        "matrix": charts.confusion_heatmap(evaluation.classes, evaluation.confusion),
        "mistakes": mistakes[:_MISTAKES_SHOWN], "n_mistakes": len(mistakes), "k": catalog.k,
    })
