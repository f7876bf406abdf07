"""Evaluation: how often the classifier is right on photos it has not memorised, and where it goes wrong.

At 114+ classes a confusion matrix does not fit a screen as a table: the page shows the most confused pairs,
every class's recall worst first, and a compact heatmap whose cells name themselves on hover."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from .. import charts
from ..catalog import Catalog
from ..confusions import confused_pairs, recall_by_class
from ..dependencies import get_catalog, get_messages, templates
from ..i18n import Messages

router = APIRouter(tags=["evaluation"])
api = APIRouter(prefix="/api", tags=["evaluation"])

_MISTAKES_SHOWN = 60
_PAIRS_SHOWN = 20


def _mistakes(catalog: Catalog) -> list[int]:
    rows = catalog.mistakes()
    if catalog.evaluation.method == "test split":
        rows = [r for r in rows if catalog.run.images.splits[r] == "Test"]
    return rows


@api.get("/evaluation")
def evaluation_api(catalog: Catalog = Depends(get_catalog)):
    images, predictions = catalog.run.images, catalog.assessment
    evaluation = catalog.evaluation
    # Only what a list needs: no neighbour search for thousands of mistakes of a large run.
    return {**evaluation.to_dict(),
            "confused_pairs": [pair.__dict__ for pair in confused_pairs(evaluation.classes, evaluation.confusion)],
            "mistakes": [{"id": str(images.ids[r]), "label": images.labels[r],
                          "predicted": str(predictions.predicted[r]), "score": float(predictions.score[r]),
                          "page_url": f"/images/{images.ids[r]}"} for r in _mistakes(catalog)]}


@router.get("/evaluation", response_class=HTMLResponse)
def evaluation_page(request: Request, catalog: Catalog = Depends(get_catalog),
                    messages: Messages = Depends(get_messages)):
    evaluation = catalog.evaluation
    mistakes = _mistakes(catalog)
    kinds = {c: messages.kind(catalog.facts.kind_for(c)) for c in evaluation.classes}
    return templates.TemplateResponse(request, "evaluation.html", {
        "evaluation": evaluation, "kinds": kinds,
        "pairs": confused_pairs(evaluation.classes, evaluation.confusion, _PAIRS_SHOWN),
        "n_pairs": len(confused_pairs(evaluation.classes, evaluation.confusion, None)),
        "recall": recall_by_class(evaluation.classes, evaluation.confusion),
        "matrix": charts.confusion_heatmap(evaluation.classes, evaluation.confusion, messages),
        "mistakes": catalog.summaries(mistakes[:_MISTAKES_SHOWN], messages), "n_mistakes": len(mistakes),
        "k": catalog.k,
    })
