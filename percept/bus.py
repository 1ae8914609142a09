"""ZeroMQ publish/subscribe with typed messages and two delivery policies.

* :class:`Publisher` binds (or connects) an ``XPUB`` socket and sends encoded messages without
  copying their arrays. It never drops silently: sends use ``XPUB_NODROP``, so a full queue of a
  ``reliable`` subscriber blocks the send for up to ``send_timeout_ms`` (back-pressure); past that
  the message is dropped and counted in :attr:`PublisherStats.send_drops`.
* :class:`Subscriber` connects a ``SUB`` socket to one or more endpoints with topic-prefix
  filters and one policy:

  - ``reliable``: messages wait in a bounded queue (``hwm`` messages); a full queue pushes back
    on the publisher, so nothing is lost while the publisher waits.
  - ``latest``: a background thread drains the socket continuously and keeps only the newest
    message per topic, so a slow consumer (e.g. a detector) always sees fresh data, memory stays
    bounded (one message per topic), and the publisher never feels back-pressure.

Every subscriber counts, per topic, messages received and messages lost, the latter from gaps
in the producers' ``seq`` (a topic has one producer whose ``seq`` grows by one per message; a
``seq`` that goes back is taken as a producer restart, not a loss).

Endpoints are ZeroMQ addresses: ``ipc://PATH``, ``tcp://HOST:PORT``, ``inproc://NAME``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import zmq

from percept.codec import DEFAULT_LIMITS, CodecLimits, Envelope, decode
from percept.errors import BusError, DecodeError
from percept.message import Message

Policy = Literal["latest", "reliable"]
POLICIES: tuple[str, ...] = ("latest", "reliable")


def _context(context: zmq.Context | None) -> zmq.Context:
    return context if context is not None else zmq.Context.instance()


def terminate(linger_ms: int = 1000) -> None:
    """Close every socket of the process-wide context (those still open get ``linger_ms``) and
    terminate it, which waits until the queued messages have left (or their sockets' linger ran
    out). A process that publishes must call it before it exits: frames are sent zero-copy from
    their arrays, and an interpreter that frees those arrays at exit while libzmq is still writing
    them makes libzmq abort ("Bad address") -- a camera that ended right after a 6 MB frame did."""
    zmq.Context.instance().destroy(linger=linger_ms)


def _attach(sock: zmq.Socket, endpoints: Iterable[str], bind: bool) -> list[str]:
    """Bind or connect ``sock`` to each endpoint; return the actual endpoints."""
    actual: list[str] = []
    for ep in endpoints:
        try:
            if bind:
                sock.bind(ep)
                actual.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))
            else:
                sock.connect(ep)
                actual.append(ep)
        except zmq.ZMQError as exc:
            raise BusError(f"cannot {'bind' if bind else 'connect'} {ep!r}: {exc}") from exc
    return actual


@dataclass
class PublisherStats:
    """Counters of one publisher since it was created."""

    sent: int = 0
    send_drops: int = 0


class Publisher:
    """Sends messages on topics from one ``XPUB`` socket.

    Args:
        endpoints: where to bind (default) or connect; ``tcp://127.0.0.1:*`` picks a port.
        bind: bind (a node's output) rather than connect.
        hwm: per-subscriber queue length in messages.
        send_timeout_ms: how long a send may wait for a full ``reliable`` subscriber before
            the message is dropped and counted; ``-1`` waits forever, ``0`` never waits.
    """

    def __init__(self, endpoints: str | Sequence[str], *, bind: bool = True, hwm: int = 100,
                 send_timeout_ms: int = 1000, linger_ms: int = 1000,
                 context: zmq.Context | None = None) -> None:
        self._sock = _context(context).socket(zmq.XPUB)
        self._sock.setsockopt(zmq.LINGER, linger_ms)
        self._sock.setsockopt(zmq.SNDHWM, hwm)
        self._sock.setsockopt(zmq.XPUB_NODROP, 1)
        self._sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        self._sock.setsockopt(zmq.SNDTIMEO, send_timeout_ms)
        eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        try:
            self.endpoints = _attach(self._sock, eps, bind)
        except BusError:
            self._sock.close(0)
            raise
        self.stats = PublisherStats()
        self._subscriptions = 0

    @property
    def socket(self) -> zmq.Socket:
        """The underlying XPUB socket (for baselines and tools; do not send on it concurrently)."""
        return self._sock

    def publish(self, topic: str, msg: Message, *, block: bool = True) -> bool:
        """Encode and send ``msg`` on ``topic``; ``False`` if it had to be dropped.

        ``block=False`` never waits for a full ``reliable`` subscriber: the message is dropped
        (and counted) at once instead of after ``send_timeout_ms``.
        """
        return self.send_frames(msg.to_frames(topic), block=block)

    def send_frames(self, frames: Sequence[Any], *, block: bool = True) -> bool:
        """Send already-encoded frames (e.g. from a log); ``False`` if dropped."""
        try:
            self._sock.send_multipart(frames, flags=0 if block else zmq.NOBLOCK, copy=False)
        except zmq.Again:
            self.stats.send_drops += 1
            return False
        self.stats.sent += 1
        return True

    def new_subscriptions(self) -> list[str]:
        """Topic prefixes subscribed since the last call (one entry per subscribe message, so a
        subscriber that (re)connects shows up again); never blocks."""
        out: list[str] = []
        while True:
            try:
                event = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return out
            if event[:1] == b"\x01":
                self._subscriptions += 1
                out.append(event[1:].decode("utf-8", "replace"))

    def wait_for_subscribers(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until ``count`` subscriptions arrived (ZeroMQ's slow-joiner problem)."""
        deadline = time.monotonic() + timeout
        while self._subscriptions < count:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000), zmq.POLLIN):
                return self._subscriptions >= count
            if self._sock.recv()[:1] == b"\x01":
                self._subscriptions += 1
        return True

    def close(self, linger_ms: int | None = None) -> None:
        """Close the socket; queued messages get ``linger_ms`` (default: the socket's) to leave."""
        self._sock.close(linger_ms)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class SubscriberStats:
    """Counters of one subscriber since it was created, per topic where keyed."""

    received: dict[str, int] = field(default_factory=dict)
    #: messages that never reached the consumer, from gaps in producer ``seq``
    dropped: dict[str, int] = field(default_factory=dict)
    #: of those, discarded here by the ``latest`` policy (per topic)
    replaced: dict[str, int] = field(default_factory=dict)
    decode_errors: int = 0

    @property
    def total_received(self) -> int:
        return sum(self.received.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def total_replaced(self) -> int:
        return sum(self.replaced.values())


class Subscriber:
    """Receives typed messages from one or more publishers.

    Args:
        endpoints: publisher endpoints to connect to (or bind, with ``bind=True``).
        topics: topic prefixes to receive; ``("",)`` receives everything.
        policy: ``"reliable"`` or ``"latest"`` (see the module docstring).
        hwm: queue length in messages (``reliable``) or of the socket behind the drain
            thread (``latest``).
        limits: decoding caps; frames over ``limits.max_array_bytes`` are refused by ZeroMQ
            itself before they are allocated.
    """

    def __init__(self, endpoints: str | Sequence[str], topics: Sequence[str] = ("",), *,
                 policy: Policy = "reliable", hwm: int = 100, bind: bool = False,
                 limits: CodecLimits = DEFAULT_LIMITS, context: zmq.Context | None = None) -> None:
        if policy not in POLICIES:
            raise BusError(f"policy: expected one of {list(POLICIES)}, got {policy!r}")
        self.policy = policy
        self.limits = limits
        self.stats = SubscriberStats()
        self._last_seq: dict[str, int] = {}
        sock = _context(context).socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, limits.max_array_bytes + limits.max_header_bytes)
        for t in topics:
            sock.setsockopt(zmq.SUBSCRIBE, t.encode("utf-8"))
        eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        try:
            self.endpoints = _attach(sock, eps, bind)
        except BusError:
            sock.close(0)
            raise
        self._sock = sock
        self._slots: dict[bytes, list[zmq.Frame]] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if policy == "latest":
            self._thread = threading.Thread(target=self._drain, name="percept-latest", daemon=True)
            self._thread.start()

    def add_endpoint(self, endpoint: str) -> None:
        """Connect to one more publisher (``reliable`` only; ``latest`` fixes them at start)."""
        if self._thread is not None:
            raise BusError("cannot add endpoints to a running 'latest' subscriber")
        _attach(self._sock, [endpoint], bind=False)
        self.endpoints.append(endpoint)

    # -- receiving -----------------------------------------------------------------------
    def recv_frames(self, timeout: float | None = None) -> list[Any] | None:
        """Next raw multipart message, or ``None`` after ``timeout`` seconds (None: wait)."""
        if self._thread is None:
            ms = -1 if timeout is None else max(0, int(timeout * 1000))
            if not self._sock.poll(ms, zmq.POLLIN):
                return None
            return self._sock.recv_multipart(copy=False)
        with self._cond:
            if not self._slots and not self._cond.wait_for(lambda: bool(self._slots), timeout):
                return None
            key = next(iter(self._slots))
            return self._slots.pop(key)

    def recv(self, timeout: float | None = None) -> Envelope | None:
        """Next decoded message, or ``None`` on timeout.

        Raises:
            DecodeError: the next message was malformed (it is consumed and counted).
        """
        frames = self.recv_frames(timeout)
        if frames is None:
            return None
        try:
            env = decode(frames, self.limits)
        except DecodeError:
            self.stats.decode_errors += 1
            raise
        self._account(env)
        return env

    def _account(self, env: Envelope) -> None:
        topic, seq = env.topic, env.msg.seq
        stats = self.stats
        stats.received[topic] = stats.received.get(topic, 0) + 1
        last = self._last_seq.get(topic)
        if last is None:
            # messages replaced before the first delivery precede it: no seq gap shows them
            with self._cond:
                early = stats.replaced.get(topic, 0)
            if early:
                stats.dropped[topic] = stats.dropped.get(topic, 0) + early
        elif seq > last + 1:
            stats.dropped[topic] = stats.dropped.get(topic, 0) + (seq - last - 1)
        self._last_seq[topic] = seq

    def _drain(self) -> None:
        """Background loop of the ``latest`` policy: keep the newest message per topic."""
        sock = self._sock
        while not self._stop.is_set():
            try:
                if not sock.poll(50, zmq.POLLIN):
                    continue
                batch: list[list[zmq.Frame]] = []
                while len(batch) < 1000:
                    try:
                        batch.append(sock.recv_multipart(zmq.NOBLOCK, copy=False))
                    except zmq.Again:
                        break
            except zmq.ZMQError:
                if self._stop.is_set():
                    return
                raise
            with self._cond:
                replaced = self.stats.replaced
                for frames in batch:
                    key = frames[0].bytes
                    if key in self._slots:
                        topic = key.decode("utf-8", "replace")
                        replaced[topic] = replaced.get(topic, 0) + 1
                    self._slots[key] = frames
                self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Messages held by the ``latest`` slots (always 0 for ``reliable``)."""
        with self._cond:
            return len(self._slots)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._sock.close(0)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
