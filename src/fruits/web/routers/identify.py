"""Identify: the upload/take-a-photo page and POST /api/identify.

The body arrives capped by the BodySizeLimit middleware, is parsed in memory, sniffed, identified and dropped:
no upload is written anywhere or logged.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from ...errors import FruitsError
from ...identify import Identification, strip_metadata
from ...run_output import thumbnail_jpeg
from ..catalog import Catalog
from ..dependencies import get_catalog, templates
from ..errors import message_for, status_for
from ..i18n import messages_for
from ..uploads import photo_from_body

router = APIRouter(tags=["identify"])
api = APIRouter(prefix="/api", tags=["identify"])


def _answer_json(answer: Identification) -> dict:
    out = answer.to_dict()
    for item in out["similar"]:
        item["page_url"] = f"/images/{item['id']}"
        item["thumbnail_url"] = f"/images/{item['id']}/thumbnail"
    return out


async def _identify(request: Request, catalog: Catalog) -> tuple[bytes, Identification]:
    body = await request.body()
    # Metadata (EXIF with GPS, XMP, IPTC) is cut out first: nothing below, preview included, ever sees it.
    photo = strip_metadata(photo_from_body(body, request.headers.get("content-type")))
    answer = await run_in_threadpool(catalog.identifier.identify, photo, 3, catalog.settings.gallery_size)
    return photo, answer


@api.post("/identify")
async def identify_api(request: Request, catalog: Catalog = Depends(get_catalog)):
    _, answer = await _identify(request, catalog)
    return _answer_json(answer)


def _page(request: Request, catalog: Catalog, status: int = 200, **context):
    return templates.TemplateResponse(request, "identify.html", {
        "max_upload_bytes": catalog.settings.max_upload_bytes, "classes": catalog.classes,
        "answer": None, "error": None, "preview": None, **context}, status_code=status)


@router.get("/identify", response_class=HTMLResponse)
def identify_page(request: Request, catalog: Catalog = Depends(get_catalog)):
    return _page(request, catalog)


@router.post("/identify", response_class=HTMLResponse)
async def identify_form(request: Request, catalog: Catalog = Depends(get_catalog)):
    try:
        photo, answer = await _identify(request, catalog)
    except FruitsError as exc:
        return _page(request, catalog, status_for(exc), error=message_for(exc, messages_for(request)))
    # Shown back to the user inside this one response (a data: URI), re-encoded without metadata; not kept.
    preview = "data:image/jpeg;base64," + base64.b64encode(
        await run_in_threadpool(thumbnail_jpeg, photo, 320)).decode("ascii")
    return _page(request, catalog, answer=_answer_json(answer), preview=preview)
