"""`zhclip serve --processes N`: N server processes on one port (uvicorn's workers), for more requests per second
than one process's interpreter lock allows. Each process opens the library itself, from settings passed in an
environment variable; indexing is left to `zhclip index` (the processes reload the library after it commits),
since each process would otherwise start rescans of its own."""

from __future__ import annotations

import json
import os
import socket

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..search import Library, Searcher
from ..search.mounts import parse_mount
from .app import create_app

SETTINGS_ENV = "ZHCLIP_SERVE_SETTINGS"
SETTINGS = ("db", "model", "precision", "device", "runtime", "token", "read_token", "mount")


def settings_env(options: object) -> dict[str, str]:
    """The environment entry `app` reads in each process, from the attributes of `options` named in SETTINGS."""
    return {SETTINGS_ENV: json.dumps({name: getattr(options, name) for name in SETTINGS})}


def app() -> FastAPI:
    """uvicorn's factory, called in each server process."""
    s = json.loads(os.environ[SETTINGS_ENV])
    options = {"runtime": s["runtime"], "image_later": True}
    library = Library.open(s["db"], s["model"], s["precision"], s["device"], **options)
    library.mount([parse_mount(text) for text in s["mount"]])
    refusal = f"this server runs in several processes; index the library with `zhclip index --db {s['db']}`"
    return create_app(Searcher(library), token=s["token"], rescan_refusal=refusal, read_token=s["read_token"])


class NoDelayProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (its httptools parser) with Nagle's algorithm off on each connection. The
    socket uvicorn binds for several processes is made without a protocol number, so asyncio does not turn it off
    as it does for one process, and every keep-alive response then waited ~40 ms for the client's delayed ACK."""

    def connection_made(self, transport) -> None:
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
