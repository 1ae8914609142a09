"""Shared shell of the real HTTP servers the tests run on 127.0.0.1 (webhook receiver, MJPEG camera).

A test server is a :class:`LocalServer` whose ``owner`` (the object the test talks to) the request
handler (a :class:`QuietHandler` subclass) reaches as ``self.server.owner``; :func:`serve` binds
it and runs it in a daemon thread, :func:`close` stops it and frees the port.
"""

from __future__ import annotations

import http.server
import threading
from typing import Any


class LocalServer(http.server.ThreadingHTTPServer):
    """Threaded HTTP server whose handlers reach the test object as ``self.server.owner``."""

    daemon_threads = True
    allow_reuse_address = True
    owner: Any


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Request handler that does not log every request to stderr."""

    server: LocalServer

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(handler: type[QuietHandler], owner: Any, port: int = 0,
          name: str = "test-http") -> tuple[LocalServer, threading.Thread]:
    """Bind ``handler`` on ``127.0.0.1:port`` (0: an ephemeral port, see ``server_address``) for
    ``owner`` and serve it in a started daemon thread (polling for shutdown every 50 ms)."""
    server = LocalServer(("127.0.0.1", port), handler)
    server.owner = owner
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                              daemon=True)
    thread.start()
    return server, thread


def close(server: LocalServer) -> None:
    """Stop serving and close the listening socket (live connections are the owner's business)."""
    server.shutdown()
    server.server_close()
