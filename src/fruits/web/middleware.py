"""Pure ASGI middleware: a request body cap enforced while the body streams, and security headers.

Starlette reads a request body as fast as the client sends it and sets no limit, so a 10 GB upload would fill
memory. BodySizeLimit counts bytes as they arrive and answers 413 as soon as the count passes the limit (or at
once when Content-Length already says so), before the app sees a byte too many.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .i18n import COOKIE, Messages, negotiate

_BODYLESS = {"GET", "HEAD", "OPTIONS", "DELETE"}


class _BodyTooLarge(Exception):
    pass


def _json_response(status: int, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    }
    return start, {"type": "http.response.body", "body": body}


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _message(self, scope: Scope) -> str:
        """In the language the request asks for (its `lang` cookie, then Accept-Language)."""
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", ())}
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except CookieError:
            pass
        cookie = cookies[COOKIE].value if COOKIE in cookies else None
        t = Messages(negotiate(cookie, headers.get("accept-language")))
        return t.gettext("the upload is larger than the %(size)s MB limit: send a smaller photo",
                         size=t.number(self.max_bytes / (1024 * 1024)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    for message in _json_response(413, self._message(scope)):
                        await send(message)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:  # too late for a clean answer; the server closes the connection
                raise
            for message in _json_response(413, self._message(scope)):
                await send(message)


# Every script, style, font and image comes from this app: no CDN, nothing a phone must fetch elsewhere.
# Plotly injects <style> elements at run time, hence 'unsafe-inline' for styles only; no inline scripts.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
_SECURITY_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _SECURITY_HEADERS if n not in present]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, with_headers)
