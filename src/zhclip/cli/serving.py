"""Serving the web app on a port, for `zhclip serve` and `zhclip demo`: the socket is bound before anything says it
is serving, and a port that another program holds is one line naming it, not uvicorn's traceback-like log."""

from __future__ import annotations

import errno
import socket

from ..errors import ZhclipError

MACOS_AIRPLAY_PORT = 5000  # macOS's AirPlay Receiver listens here by default


class PortUnavailableError(ZhclipError):
    """The address and port to serve on cannot be bound (taken by another program, or not ours to bind)."""


def bind_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port`, ready for uvicorn to listen on (and inheritable by its worker processes)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart over TIME_WAIT
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailableError(_unavailable(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _unavailable(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        airplay = " (on macOS, AirPlay Receiver uses port 5000)" if port == MACOS_AIRPLAY_PORT else ""
        return f"port {port} on {host} is already in use{airplay}; choose another with --port, e.g. --port {port + 1}"
    return f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --host or --port"


def run_server(sock: socket.socket, app, *, workers: int = 1, **options) -> None:
    """Serve `app` on the bound `sock` until Ctrl-C: an ASGI app, or with `workers` > 1 the import string of an
    app factory that each worker process calls. `options` are uvicorn.Config's."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, workers=workers, log_level="warning", factory=workers > 1, **options)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
