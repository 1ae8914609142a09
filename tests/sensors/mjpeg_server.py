"""A small HTTP MJPEG server on 127.0.0.1 for camera tests (real sockets, real JPEG frames).

Every GET gets ``multipart/x-mixed-replace`` with one JPEG part per frame, the way IP cameras
serve MJPEG. :meth:`MjpegServer.stop` closes the listening socket *and* every live connection
(a dead camera); :meth:`MjpegServer.start` binds the same port again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import cv2
import numpy as np

from tests.local_http import LocalServer, QuietHandler, close, serve

BOUNDARY = "percept-frame"


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        owner = self.server.owner
        owner._register(self.connection)
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            while not owner._stopping.is_set():
                jpeg = owner.next_jpeg()
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                self.wfile.flush()
                time.sleep(owner.period_s)
        except OSError:
            pass  # client went away or the server closed the connection


class MjpegServer:
    """Serves synthetic ``width`` x ``height`` JPEG frames at ``fps`` on ``127.0.0.1:port``.

    Frame ``k`` is a uniform grey of value ``(k * 7) % 256`` with a white bar; ``frames_sent``
    counts parts written over all connections and restarts.
    """

    def __init__(self, port: int = 0, fps: float = 25.0, width: int = 160, height: int = 120) -> None:
        self.port = port
        self.period_s = 1.0 / fps
        self.width, self.height = width, height
        self.frames_sent = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._stopping = threading.Event()
        self._server: LocalServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def next_jpeg(self) -> bytes:
        with self._lock:
            k = self.frames_sent
            self.frames_sent += 1
        img = np.full((self.height, self.width, 3), (k * 7) % 256, np.uint8)
        col = (k * 4) % self.width
        img[:, col:col + 4] = 255
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.append(conn)

    def start(self) -> MjpegServer:
        """Listen (on the same port as before after a :meth:`stop`) and serve in a thread."""
        self._stopping.clear()
        self._server, self._thread = serve(_Handler, self, self.port, name="mjpeg-server")
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        """Close the listening socket and every live connection, like a camera losing power."""
        self._stopping.set()
        if self._server is not None:
            close(self._server)
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
