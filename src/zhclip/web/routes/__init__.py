"""The app's routes, one router per resource."""

from . import browse, dupes, files, library, search

ROUTERS = (search.router, browse.router, files.router, library.router, dupes.router)

__all__ = ["ROUTERS"]
