"""The app's routes, one router per resource."""

from . import browse, files, library, search

ROUTERS = (search.router, browse.router, files.router, library.router)

__all__ = ["ROUTERS"]
