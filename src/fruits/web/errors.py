"""The one place where library errors become HTTP answers: JSON under /api, an HTML page elsewhere."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import FruitsError, WeightsError
from ..identify import UnreadablePhotoError, UnsupportedPhotoError
from .catalog import ImageNotFound
from .dependencies import templates
from .i18n import DEFAULT_LANGUAGE, Messages, messages_for
from .media import PhotoUnavailable
from .uploads import UploadFormError

log = logging.getLogger(__name__)


def status_for(exc: BaseException) -> int:
    if isinstance(exc, UnsupportedPhotoError):
        return 415
    if isinstance(exc, UnreadablePhotoError):
        return 422
    if isinstance(exc, (ImageNotFound, PhotoUnavailable)):
        return 404
    if isinstance(exc, WeightsError):
        return 503  # the dashboard works; identify needs the run's weights back
    if isinstance(exc, FruitsError):
        return 422
    return 500


def message_for(exc: BaseException, t: Messages | None = None) -> str:
    """The error in the request's language. The library words its errors in English; in another language the
    page says what happened and what to do in that language, by the kind of error."""
    t = t or Messages(DEFAULT_LANGUAGE)
    if isinstance(exc, ImageNotFound):
        return t.gettext("no photo with this id in the run")
    if t.language == DEFAULT_LANGUAGE:
        return str(exc)
    if isinstance(exc, UploadFormError):
        return t.gettext("the upload has no readable photo: send it as the form field 'photo' "
                         "(multipart/form-data), or the photo's bytes as the body")
    if isinstance(exc, UnsupportedPhotoError):
        return t.gettext("this file is not a JPEG or PNG photo (its content was checked, not its name); send a "
                         ".jpg or .png, or set the phone camera to 'most compatible' instead of HEIC")
    if isinstance(exc, UnreadablePhotoError):
        return t.gettext("this photo cannot be read (empty, damaged or too large): try another photo")
    if isinstance(exc, PhotoUnavailable):
        return t.gettext("this photo cannot be read any more from its storage location")
    if isinstance(exc, WeightsError):
        return t.gettext("identify is not available: the run's model weights cannot be loaded")
    return t.gettext("the request cannot be served (%(detail)s)", detail=str(exc))


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def error_response(request: Request, status: int, message: str):
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        t = messages_for(request)
        message = exc.detail if isinstance(exc.detail, str) else t.gettext("request failed")
        if exc.status_code == 404 and message == "Not Found":
            message = t.gettext("no such page")
        return error_response(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return error_response(request, 422, messages_for(request).gettext(
            "bad %(where)s: %(reason)s", where=where, reason=first.get("msg", "invalid value")))

    for kind in (FruitsError, ImageNotFound):
        @app.exception_handler(kind)
        async def library_error(request: Request, exc: Exception):
            status = status_for(exc)
            if status >= 500:
                log.error("%s %s: %s", request.method, request.url.path, exc)
            return error_response(request, status, message_for(exc, messages_for(request)))
