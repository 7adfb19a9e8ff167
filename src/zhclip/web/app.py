"""The FastAPI app: search API, library files by id, status and rescan, and the page.

Files are only ever addressed by their library id; no request parameter is used as a path.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from .. import __version__
from ..search import Searcher
from . import errors
from .middleware import BodyLimit, install_guard
from .params import MAX_UPLOAD_BYTES
from .rescan import Rescan
from .routes import ROUTERS
from .routes.library import STATIC
from .security import Tokens

__all__ = ["MAX_UPLOAD_BYTES", "create_app"]


def create_app(
    searcher: Searcher,
    token: str | None = None,
    watch: bool = False,
    rescan_refusal: str | None = None,
    read_token: str | None = None,
) -> FastAPI:
    """The app over `searcher`; `token` may do everything, `read_token` search and read only (see `security`);
    with `watch`, it indexes the library's folders whenever files change; `rescan_refusal` is the answer to
    rescan requests of a server that leaves indexing to `zhclip index`."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # A query's numpy products are small, and OpenBLAS's threads spin on after them, taking the cores the
        # model runtimes need next: text queries of a 100k library took 47 ms at p50 with them, 29 ms without.
        threadpool_limits(1, user_api="blas")
        yield
        stop.set()

    app = FastAPI(
        title="zhclip material search",
        version=__version__,
        description="Search a photo and video library by Chinese text or by image.",
        lifespan=lifespan,
    )
    app.state.searcher = searcher
    app.state.rescan = Rescan(searcher.library, rescan_refusal)
    app.state.stop_watching = stop
    if watch:
        app.state.rescan.watch(stop)
    errors.install(app)
    app.add_middleware(BodyLimit, limit=MAX_UPLOAD_BYTES + (1 << 20))  # an upload and its form fields
    install_guard(app, Tokens(token, read_token))
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
