"""One dashboard app over the synthetic run, shared by the web tests (building it classifies every photo)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fruits.web import Settings, create_app

# Small enough that the tests can send a body over it without allocating much.
UPLOAD_LIMIT = 256 * 1024


@pytest.fixture(scope="session")
def web_app(synthetic_run):
    # No background warm-up: the tests decide when the identify model is built.
    return create_app(Settings(output=str(synthetic_run), max_upload_bytes=UPLOAD_LIMIT, warm_up=False,
                               page_size=10))


@pytest.fixture(scope="session")
def client(web_app):
    with TestClient(web_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def catalog(web_app):
    return web_app.state.catalog
