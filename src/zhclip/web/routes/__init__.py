"""The app's routes, one router per resource."""

from . import files, library, search

ROUTERS = (search.router, files.router, library.router)

__all__ = ["ROUTERS"]
