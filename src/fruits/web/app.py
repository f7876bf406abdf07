"""The FastAPI application factory: `create_app(settings)` wires the routers, middleware and error handlers
around one Catalog (the loaded run). Server-rendered pages and a JSON API under /api share the same handlers'
data; every script and style is served by the app itself."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from .. import __version__
from ..errors import FruitsError
from .catalog import Catalog
from .dependencies import STATIC_DIR
from .errors import install_error_handlers
from .middleware import BodySizeLimit, SecurityHeaders
from .routers import evaluation, home, identify, images
from .settings import Settings

log = logging.getLogger(__name__)


def warm_identify(catalog: Catalog) -> None:
    """Build the identify model (TensorFlow import, weights, LiteRT conversion: seconds), so no request waits."""
    started = time.monotonic()
    try:
        catalog.identifier.warm()
        log.info("identify is ready (model built in %.1f s)", time.monotonic() - started)
    except FruitsError as exc:
        log.error("identify will not work: %s", exc)
    except Exception:  # noqa: BLE001 - a warm-up failure must not kill the server: the dashboard still works
        log.exception("building the identify model failed")


def one_thread_per_call() -> None:
    """Once the catalog is built, BLAS (numpy's and faiss's OpenBLAS) runs each call on one thread.

    The server already runs requests in parallel threads on every core; a BLAS call of one request that spreads
    over all cores only waits for cores the other requests hold. Measured on one identify call (projection of its
    six views, 1280 -> 424 numbers) on a busy 2-core machine: 88 ms with two BLAS threads, 1.2 ms with one."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def freeze_start_up_objects() -> None:
    """Move what start-up built (the catalog, the kNN's labels, the model pool: ~116,000 objects at 100,000
    photos) out of the garbage collector's reach: they live as long as the server. A full collection walks every
    tracked object while holding the GIL, so identify and the event loop stop meanwhile: 109 ms for a catalog of
    100,000 photos (measured on a busy machine; two ran during start-up, 159 and 317 ms). Frozen, a full
    collection walks only what requests left behind. Garbage is collected first, so none is frozen."""
    gc.collect()
    gc.freeze()


def describe_photos(catalog: Catalog) -> None:
    """Describe the sample of photos the comparison histograms use (brightness, hue) in the background, so the
    first visitor of an item page does not wait. Bounded (catalog.MEASURE_SAMPLE photos), whatever the run's
    size."""
    try:
        catalog.measures()
    except Exception:  # noqa: BLE001 - pages retry on demand
        log.exception("describing the photos failed")


def create_app(settings: Settings, catalog: Catalog | None = None) -> FastAPI:
    """The dashboard for `settings.output`. Pass `catalog` to reuse one already loaded (the CLI validates the
    OUTPUT before starting uvicorn); otherwise it is loaded here (RunOutputError when the OUTPUT is unusable)."""
    settings = settings.validated()
    catalog = catalog or Catalog.load(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.warm_up:
            # Uvicorn opens its socket only after this start-up: the identify model is ready before the server
            # says it is listening, so no request waits for it.
            await asyncio.to_thread(warm_identify, catalog)
            one_thread_per_call()
            freeze_start_up_objects()
            threading.Thread(target=describe_photos, args=(catalog,), name="fruits-describe", daemon=True).start()
        yield

    # No /docs or /redoc: FastAPI's documentation pages load their scripts from a CDN.
    app = FastAPI(title="Fruits! dashboard", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.state.catalog = catalog
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for module in (home, images, identify, evaluation):
        app.include_router(module.router)
        app.include_router(module.api)
    install_error_handlers(app)
    # The last added is the outermost: headers go on every answer, including the 413 of the size limit.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(SecurityHeaders)
    return app
