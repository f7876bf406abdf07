"""POST /api/identify and the /identify form: answers, bad photos (415/422), the streaming size cap (413),
and uploads that never touch the disk."""

from __future__ import annotations

import builtins
import contextlib
import tempfile

import pytest

from tests import bad_images
from tests.web.conftest import UPLOAD_LIMIT


@contextlib.contextmanager
def served(web_app):
    """The app on a real uvicorn server in a thread, on a free port of 127.0.0.1: yields the port."""
    import socket
    import threading
    import time

    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(web_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def test_photo(synthetic_photos):
    path = sorted((synthetic_photos / "Test").rglob("*.jpg"))[0]
    return path.read_bytes()


@pytest.fixture(scope="module")
def reference_photo(catalog):
    row = int(catalog.assessment.reference_rows[5])
    return row, catalog.run.read_image(row)


def test_identify_a_reference_photo(client, catalog, reference_photo):
    row, photo = reference_photo
    response = client.post("/api/identify", files={"photo": ("mine.jpg", photo, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["top"]) == 3 and body["top"][0]["label"] in body["sentence"]
    # The same photo is in the reference set: it is its own most similar photo, at distance ~0.
    first = body["similar"][0]
    assert first["id"] == catalog.run.images.ids[row] and first["distance"] < 1e-2
    assert first["page_url"] == f"/images/{first['id']}" and client.get(first["thumbnail_url"]).status_code == 200
    assert body["model"]["image_size"] == 96 and body["card"] is not None


def test_the_api_sends_the_bytes_fastapi_renders_from_the_answer(client, catalog, test_photo):
    """The answer is rendered to JSON on the identify worker, not by FastAPI on the event loop: the bytes sent
    are those FastAPI renders from the same answer (jsonable_encoder, then its JSONResponse)."""
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    from fruits.identify import strip_metadata
    from fruits.web.routers.identify import _answer_json

    response = client.post("/api/identify", content=test_photo, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    answer = catalog.identifier.identify(strip_metadata(test_photo), 3, catalog.settings.gallery_size)
    assert response.content == JSONResponse(jsonable_encoder(_answer_json(answer))).body


def test_raw_body_and_multipart_give_the_same_answer(client, test_photo):
    as_form = client.post("/api/identify", files={"photo": ("x.jpg", test_photo, "image/jpeg")}).json()
    as_body = client.post("/api/identify", content=test_photo, headers={"content-type": "image/jpeg"}).json()
    assert as_form == as_body


def test_the_empty_second_input_of_the_page_is_ignored(client, test_photo):
    files = [("photo", ("", b"", "application/octet-stream")), ("photo", ("x.jpg", test_photo, "image/jpeg"))]
    assert client.post("/api/identify", files=files).status_code == 200


@pytest.mark.parametrize("name, data, status, words", [
    ("truncated.jpg", bad_images.truncated_jpeg(), 422, "truncated"),
    ("not a photo.jpg", bad_images.text_named_jpg(), 415, "not a JPEG or PNG"),
    ("empty.jpg", b"", 422, "empty"),
    ("bomb.png", bad_images.png_bomb(), 422, "bomb"),
    ("photo.gif", b"GIF89a" + b"\x00" * 64, 415, "not a JPEG or PNG"),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, 422, "cannot read this photo"),
])
def test_bad_photos(client, name, data, status, words):
    response = client.post("/api/identify", files={"photo": (name, data, "image/jpeg")})
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_a_form_without_the_photo_field_is_422(client, test_photo):
    response = client.post("/api/identify", files={"picture": ("x.jpg", test_photo, "image/jpeg")})
    assert response.status_code == 422 and "'photo'" in response.json()["detail"]


def test_a_json_body_is_415(client):
    response = client.post("/api/identify", json={"photo": "base64..."})
    assert response.status_code == 415


def test_oversized_body_declared_in_content_length_is_413_before_reading(client):
    body = b"\xff\xd8\xff" + b"\x00" * UPLOAD_LIMIT
    response = client.post("/api/identify", content=body, headers={"content-type": "image/jpeg"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert "limit" in response.json()["detail"]


def test_the_cap_stops_reading_while_the_body_streams():
    """ASGI level: the app asks for the body chunk by chunk; the cap answers 413 as soon as the running count
    passes the limit, without asking the client for the rest (and without a Content-Length to go by)."""
    import asyncio

    from fruits.web.middleware import BodySizeLimit

    async def reads_everything(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    chunk, asked, sent = b"\x00" * 65536, [], []

    async def receive():
        asked.append(1)
        return {"type": "http.request", "body": chunk, "more_body": len(asked) < 1000}  # 64 MB in all

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/identify", "headers": []}
    asyncio.run(BodySizeLimit(reads_everything, max_bytes=UPLOAD_LIMIT)(scope, receive, send))
    assert sent[0]["status"] == 413 and b"limit" in sent[1]["body"]
    assert len(asked) == UPLOAD_LIMIT // len(chunk) + 1


def test_a_real_server_cuts_a_chunked_upload_short(web_app):
    """End to end over a socket (uvicorn in a thread): a chunked body with no Content-Length gets its 413 long
    before the client could send it all."""
    import select
    import socket

    with served(web_app) as port:
        total, sent, answer = 64 * 1024 * 1024, 0, b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"POST /api/identify HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 65536 + b"\x00" * 65536 + b"\r\n"
            while sent < total:
                if select.select([connection], [], [], 0.005)[0]:
                    answer = connection.recv(65536)
                    break
                try:
                    connection.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 65536
            if not answer:
                answer = connection.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
        assert sent < total / 4, f"{sent} bytes went out before the 413"


def test_oversized_form_upload_is_413(client):
    big = bad_images.jpeg((10, 10)) + b"\x00" * (UPLOAD_LIMIT + 1)
    response = client.post("/api/identify", files={"photo": ("big.jpg", big, "image/jpeg")})
    assert response.status_code == 413


def test_uploads_never_touch_the_disk(client, test_photo, monkeypatch):
    client.post("/api/identify", content=test_photo, headers={"content-type": "image/jpeg"})  # model built
    writes = []
    real_open = builtins.open

    def watching_open(file, mode="r", *args, **kwargs):
        if any(flag in str(mode) for flag in "wax+"):
            writes.append(file)
        return real_open(file, mode, *args, **kwargs)

    def no_temporary_files(*args, **kwargs):
        writes.append("tempfile")
        raise AssertionError("an upload must not be spooled to a temporary file")

    monkeypatch.setattr(builtins, "open", watching_open)
    for name in ("SpooledTemporaryFile", "NamedTemporaryFile", "TemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_temporary_files)
    big_enough_to_spool = test_photo + b"\x00" * (1024 * 200)  # trailing bytes after the JPEG are ignored
    assert client.post("/api/identify", files={"photo": ("x.jpg", big_enough_to_spool, "image/jpeg")}).status_code == 200
    assert client.post("/identify", files={"photo": ("x.jpg", test_photo, "image/jpeg")},
                       headers={"accept": "text/html"}).status_code == 200
    assert writes == []


def test_identify_form_page_answers_in_html(client, test_photo):
    response = client.post("/identify", files={"photo": ("x.jpg", test_photo, "image/jpeg")},
                           headers={"accept": "text/html"})
    assert response.status_code == 200 and 'data-testid="top-class"' in response.text
    assert "data:image/jpeg;base64," in response.text  # the preview travels inside the page, nothing is kept
    bad = client.post("/identify", files={"photo": ("x.jpg", b"hello", "image/jpeg")}, headers={"accept": "text/html"})
    assert bad.status_code == 415 and 'data-testid="error"' in bad.text and "not a JPEG or PNG" in bad.text


def test_changed_weights_make_identify_503_and_leave_the_dashboard_up(catalog, test_photo):
    import dataclasses

    from fastapi.testclient import TestClient

    from fruits.web import create_app
    from fruits.web.catalog import Catalog

    run = catalog.run
    manifest = dataclasses.replace(run.manifest, weights=dataclasses.replace(run.manifest.weights, sha256="f" * 64))
    tampered = Catalog(dataclasses.replace(run, manifest=manifest), catalog.settings)
    with TestClient(create_app(catalog.settings, tampered)) as other:
        response = other.post("/api/identify", content=test_photo, headers={"content-type": "image/jpeg"})
        assert response.status_code == 503 and "changed since `fruits run`" in response.json()["detail"]
        assert other.get("/images", headers={"accept": "text/html"}).status_code == 200


def test_the_identify_model_is_built_before_the_server_listens(synthetic_run, monkeypatch):
    """Uvicorn opens its socket after the app's start-up: with warm-up on, that start-up builds the identify
    model, so the first request never waits for it; then it freezes what it built out of the garbage collector's
    reach."""
    import gc

    from fastapi.testclient import TestClient

    from fruits.identify import service
    from fruits.web import Settings, create_app

    monkeypatch.setattr(service, "_MODELS", {})  # as in a fresh process
    app = create_app(Settings(output=str(synthetic_run), warm_up=True))
    identifier = app.state.catalog.identifier
    assert not identifier.ready
    try:
        with TestClient(app) as client:  # runs the start-up, as uvicorn does before it listens
            assert identifier.ready
            assert client.get("/healthz").json() == {"status": "ok"}
            # What start-up built is out of the garbage collector's reach (a full collection would walk it).
            assert gc.get_freeze_count() > 0
            assert not any(o is identifier for o in gc.get_objects())
    finally:
        gc.unfreeze()


def test_concurrent_uploads_to_a_real_server_get_the_sequential_answers(web_app, synthetic_photos):
    """16 clients at once over a socket (uvicorn in a thread): every answer is the one the photo gets alone, and
    the calls ran on the identify workers (one per core, first come first served), not the shared thread pool."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from fruits.identify.service import default_threads
    from fruits.web.routers.identify import identify_workers

    photos = [p.read_bytes() for p in sorted(synthetic_photos.rglob("*.jpg"))[:4]]
    with served(web_app) as port:
        base = f"http://127.0.0.1:{port}"

        def post(photo: bytes) -> dict:
            response = httpx.post(base + "/api/identify", content=photo, headers={"content-type": "image/jpeg"},
                                  timeout=60)
            assert response.status_code == 200, response.text
            return response.json()

        sequential = [post(photo) for photo in photos]
        with ThreadPoolExecutor(16) as pool:
            concurrent = list(pool.map(post, photos * 4))
    assert concurrent == sequential * 4
    workers = identify_workers()
    assert workers._max_workers == default_threads()
    assert {t.name.split("_")[0] for t in workers._threads} == {"fruits-identify"}
