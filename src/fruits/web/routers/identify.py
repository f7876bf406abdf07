"""Identify: the upload/take-a-photo page and POST /api/identify.

The body arrives capped by the BodySizeLimit middleware, is parsed in memory, sniffed, identified and dropped:
no upload is written anywhere or logged.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from ...errors import FruitsError
from ...identify import Identification, strip_metadata
from ...identify.service import default_threads
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


# Identify calls run on their own threads, one per core (as many as the model has interpreters), and take the
# photos in the order they arrived (the executor's queue is first in, first out). On the shared thread pool, 16
# concurrent uploads were 16 threads decoding and answering at once on 2 cores: each call shared the cores with
# all the others and the slowest waited for every one of them (p99 2.4 times the median, docs/identify.md). Here
# a call runs alone on its core from decode to answer, and waits only for those that came before it.
_WORKERS: ThreadPoolExecutor | None = None
_WORKERS_LOCK = threading.Lock()


def identify_workers() -> ThreadPoolExecutor:
    global _WORKERS
    with _WORKERS_LOCK:
        if _WORKERS is None:
            _WORKERS = ThreadPoolExecutor(default_threads(), thread_name_prefix="fruits-identify")
        return _WORKERS


def _strip_and_identify(catalog: Catalog, photo: bytes) -> tuple[bytes, Identification]:
    # Metadata (EXIF with GPS, XMP, IPTC) is cut out first: nothing below, preview included, ever sees it.
    photo = strip_metadata(photo)
    return photo, catalog.identifier.identify(photo, 3, catalog.settings.gallery_size)


def _identify_response(catalog: Catalog, photo: bytes) -> JSONResponse:
    """The API's whole answer, rendered to JSON bytes on the identify worker. Returned as a Response, FastAPI
    sends it as it is: its own way (jsonable_encoder walking the answer's ~300 values, then json.dumps) gave the
    same bytes for 0.6 ms more of the event loop's CPU a call (tests/web/test_identify_api.py checks the bytes)."""
    _, answer = _strip_and_identify(catalog, photo)
    return JSONResponse(_answer_json(answer))


async def _on_worker(request: Request, work, catalog: Catalog):
    body = await request.body()
    photo = photo_from_body(body, request.headers.get("content-type"))
    return await asyncio.wrap_future(identify_workers().submit(work, catalog, photo))


async def _identify(request: Request, catalog: Catalog) -> tuple[bytes, Identification]:
    return await _on_worker(request, _strip_and_identify, catalog)


@api.post("/identify")
async def identify_api(request: Request, catalog: Catalog = Depends(get_catalog)):
    return await _on_worker(request, _identify_response, catalog)


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
