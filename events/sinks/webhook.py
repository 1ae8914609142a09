"""Webhook sink: each event is POSTed as its JSON form, in order, from a worker thread.

Delivery:

* ``send`` only queues (a bounded in-memory queue of ``queue_size`` events); when it is full the
  **oldest** queued event is dropped and counted in ``stats.overflow`` (fresh alerts matter more
  than stale ones). The event being delivered is not in the queue and is never dropped.
* One worker thread POSTs the events one at a time, in order, each request with ``timeout_s``.
  A 2xx answer is a delivery. 408, 429, any 5xx, a timeout or a connection error is retried up
  to ``max_attempts`` attempts in all, waiting :func:`~events.sinks.base.backoff_delay`
  (exponential from ``backoff_initial_s``, equal jitter, at most ``backoff_max_s``; a
  ``Retry-After`` in seconds lengthens the wait, up to ``backoff_max_s``). Any other status
  (other 4xx, 3xx: redirects are not followed) is permanent: the event is counted as failed and
  the next one goes.
* Every request carries ``Idempotency-Key: <event_id>:<phase>:<stamp_ns>`` (see
  :func:`idempotency_key`), so a receiver can drop the duplicate that a retry after a lost
  response makes: delivery is at least once, exactly once for a de-duplicating receiver.
* ``close(timeout_s)`` stops accepting events and lets the worker deliver the queue until the
  deadline; what is left then (the request in flight is given its own timeout) is counted as
  failed.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from enum import Enum

from events.jsonl import event_json_line
from events.sinks.base import SinkStats, backoff_delay, require_backoff, require_counts
from percept.messages import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookConfig:
    """Options of :class:`WebhookSink` (times in seconds).

    Attributes:
        url: ``http://`` or ``https://`` URL the events are POSTed to.
        timeout_s: limit of one request (connect + answer).
        max_attempts: attempts per event in all (1: no retry).
        backoff_initial_s, backoff_max_s: first and largest wait between attempts.
        queue_size: events waiting for delivery at most (the oldest is dropped beyond).
        headers: extra request headers (e.g. ``Authorization``).
        snapshots: include the JPEG snapshot (base64, ``snapshot_jpeg_b64``) when there is one.
    """

    url: str
    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    queue_size: int = 1000
    headers: dict[str, str] | None = None
    snapshots: bool = True

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: expected an http:// or https:// URL with a host, got {self.url!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s: expected > 0, got {self.timeout_s}")
        require_backoff(self, "backoff_initial_s", "backoff_max_s")
        require_counts(self, "max_attempts", "queue_size")


def idempotency_key(e: Event) -> str:
    """``<event_id>:<phase>:<stamp_ns>``, the same for every attempt at one event message.

    An event without an ``event_id`` (a one-shot event) is keyed by camera (or frame), type, stamp
    and sequence number instead.
    """
    if e.event_id:
        return f"{e.event_id}:{e.phase}:{e.stamp_ns}"
    return f"{e.camera or e.frame_id}:{e.event_type}:{e.phase}:{e.stamp_ns}:{e.seq}"


class _Outcome(Enum):
    OK = "ok"
    RETRY = "retry"
    PERMANENT = "permanent"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is an error (a webhook that moved is misconfigured), not a GET elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _retry_after_s(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta seconds or an HTTP date), ``None`` if absent."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class WebhookSink:
    """POSTs events to ``config.url`` from a worker thread (see the module docstring)."""

    def __init__(self, config: WebhookConfig, name: str = "webhook", seed: int | None = None) -> None:
        self.config = config
        self.name = name
        self.stats = SinkStats()
        self._rng = random.Random(seed)
        self._queue: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = threading.Event()
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._headers = {"Content-Type": "application/json", "User-Agent": "percept-events/1",
                         **(config.headers or {})}
        self._thread = threading.Thread(target=self._run, name=f"webhook-{name}", daemon=True)
        self._thread.start()

    def send(self, event: Event) -> None:
        """Queue ``event`` (dropping the oldest queued one when the queue is full)."""
        with self._cond:
            self.stats.accepted += 1
            if self._closing:
                self.stats.failed += 1
                log.warning("%s: event after close, not delivered", self.name)
                return
            if len(self._queue) >= self.config.queue_size:
                self._queue.popleft()
                self.stats.overflow += 1
                if self.stats.overflow == 1 or self.stats.overflow % 100 == 0:
                    log.warning("%s: queue full (%d), dropped the oldest event (%d so far)", self.name,
                                self.config.queue_size, self.stats.overflow)
            self._queue.append(event)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._abandon.is_set() or not self._queue:
                    left = len(self._queue)
                    self._queue.clear()
                    self.stats.failed += left
                    if left:
                        log.error("%s: closed with %d events undelivered", self.name, left)
                    return
                event = self._queue.popleft()
            self._deliver(event)

    def _count(self, counter: str) -> None:
        with self._cond:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _deliver(self, event: Event) -> None:
        cfg = self.config
        body = event_json_line(event, snapshot=cfg.snapshots).encode("utf-8")
        key = idempotency_key(event)
        detail = ""
        for attempt in range(1, cfg.max_attempts + 1):
            if attempt > 1:
                self._count("retries")
            outcome, detail, retry_after = self._post(body, key)
            if outcome is _Outcome.OK:
                self._count("delivered")
                return
            if outcome is _Outcome.PERMANENT:
                break
            if attempt == cfg.max_attempts:
                detail += f" after {attempt} attempts"
                break
            delay = backoff_delay(attempt, cfg.backoff_initial_s, cfg.backoff_max_s, self._rng)
            if retry_after is not None:
                delay = max(delay, min(retry_after, cfg.backoff_max_s))
            log.info("%s: %s: %s, retry %d in %.2f s", self.name, key, detail, attempt, delay)
            if self._abandon.wait(delay):
                detail += " (closing)"
                break
        self._count("failed")
        log.error("%s: event %s not delivered (%d failed so far): %s", self.name, key,
                  self.stats.failed, detail)

    def _post(self, body: bytes, key: str) -> tuple[_Outcome, str, float | None]:
        """One attempt: the outcome, a one-line detail and the server's ``Retry-After`` (s)."""
        req = urllib.request.Request(self.config.url, data=body, method="POST",
                                     headers={**self._headers, "Idempotency-Key": key})
        try:
            with self._opener.open(req, timeout=self.config.timeout_s) as resp:
                resp.read()
                return _Outcome.OK, f"HTTP {resp.status}", None
        except urllib.error.HTTPError as exc:
            code = exc.code
            retry_after = _retry_after_s(exc.headers.get("Retry-After") if exc.headers else None)
            exc.close()
            retryable = code in (408, 429) or code >= 500
            return (_Outcome.RETRY if retryable else _Outcome.PERMANENT), f"HTTP {code}", retry_after
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return _Outcome.RETRY, f"{type(reason).__name__}: {reason}", None

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver the queue for up to ``timeout_s`` seconds, then give up on the rest."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(max(0.0, timeout_s))
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(self.config.timeout_s + 1.0)
            if self._thread.is_alive():
                log.error("%s: worker still busy after close; %d events pending", self.name,
                          self.stats.pending)
