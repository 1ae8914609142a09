"""A real webhook receiver on 127.0.0.1 (ephemeral port) for the webhook sink tests.

Each POST takes the next entry of a script (then 200 for ever): an HTTP status to answer, or
``"drop"`` (the request is accepted, then the connection is closed without an answer: a lost
response), or ``"block"`` (accepted, answered 200 once :attr:`release` is set). Every request
is recorded with its ``Idempotency-Key`` and JSON body; :meth:`accepted` is what a receiver that
de-duplicates by key keeps.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from tests.local_http import QuietHandler, close, serve


@dataclass(frozen=True)
class Request:
    key: str
    body: dict[str, Any]
    answer: int | str


class _Handler(QuietHandler):
    def do_POST(self) -> None:
        owner = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        answer = owner._record(self.headers.get("Idempotency-Key", ""), body)
        if answer == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if answer == "block":
            owner.in_flight.set()
            owner.release.wait(10.0)
            answer = 200
        self.send_response(int(answer))
        if answer == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()


class Receiver:
    """Runs the server in a thread from construction until :meth:`stop`."""

    def __init__(self, script: list[int | str] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[Request] = []
        self.release = threading.Event()
        self.in_flight = threading.Event()
        self._lock = threading.Lock()
        self._server, self._thread = serve(_Handler, self, name="webhook-receiver")
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _record(self, key: str, body: dict[str, Any]) -> int | str:
        with self._lock:
            answer = self.script.pop(0) if self.script else 200
            self.requests.append(Request(key, body, answer))
            return answer

    def accepted(self) -> list[Request]:
        """Requests answered 2xx or dropped after acceptance, the first of each key only."""
        seen: set[str] = set()
        out = []
        for r in self.requests:
            ok = r.answer in ("drop", "block") or (isinstance(r.answer, int) and 200 <= r.answer < 300)
            if ok and r.key not in seen:
                seen.add(r.key)
                out.append(r)
        return out

    def stop(self) -> None:
        self.release.set()
        close(self._server)
