"""The web layer: a FastAPI app over a `Searcher`, and the one-page UI in `static/`."""

from .app import create_app

__all__ = ["create_app"]
