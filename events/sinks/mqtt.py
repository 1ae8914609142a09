"""MQTT sink (paho-mqtt 2.x) with topics in the style Frigate users know.

Topics (``prefix`` defaults to ``percept``):

* ``<prefix>/events`` — one message per event phase, QoS 1, not retained::

      {"type": "new" | "update" | "end", "before": {...}, "after": {...}}

  ``after`` is the event's JSON form (:func:`events.jsonl.event_to_json`, no snapshot);
  ``before`` is the ``after`` of the previous message of the same ``event_id`` (equal to
  ``after`` on ``new``), as Frigate's ``frigate/events`` does. Phases map start -> new.
* ``<prefix>/<camera>/<zone>/<label>`` — retained, QoS 1: the current count, the number of
  distinct tracks in the open events (started, not ended) of that camera, zone and label.
  ``label`` is the event's ``evidence["class"]`` (or ``"class_name"``) when it is a string,
  its ``event_type`` otherwise; the zone level is left out for an event without a zone; an
  open event without tracks counts 1. Published when a count changes while connected, and
  all of them again on every (re)connect (a restarted broker without persistence forgot them).
* ``<prefix>/<camera>/<label>/snapshot`` — retained JPEG bytes of the latest snapshot (when
  ``snapshots`` is on, the event has one and the client is connected: not kept while offline).
* ``<prefix>/available`` — retained ``online`` on every connect, ``offline`` on close and as
  the last will (the broker publishes it when the sink dies).

Delivery: QoS 1, in order. paho's network thread (``loop_start``) reconnects with exponential
backoff (``reconnect_delay_set(reconnect_min_s, reconnect_max_s)``) and re-sends the messages
that were in flight when the connection dropped. Events sent while there is no connection wait
in the sink's backlog; after a (re)connect the sink publishes ``online``, and only once the
broker has acknowledged it (so after paho's re-sends) the backlog, then the retained counts,
then live events go out: nothing overtakes an older event. At most ``queue_size`` event
messages are held unacknowledged (backlog plus in flight); beyond that the **newest** event is
dropped and counted in ``stats.overflow``. The retained counts stay right even then: they are
derived from every event, published or not. ``stats.delivered`` counts events the broker
acknowledged (PUBACK).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from events.jsonl import event_snapshot, event_to_json
from events.sinks.base import SinkStats, require_backoff, require_counts
from percept.messages import Event, EventPhase

log = logging.getLogger(__name__)

#: Event phase -> Frigate's ``type``.
PHASE_TYPES: dict[EventPhase, str] = {EventPhase.START: "new", EventPhase.UPDATE: "update",
                                      EventPhase.END: "end"}
#: Open events remembered at most (for ``before`` and counts); the oldest is forgotten beyond.
MAX_OPEN_EVENTS = 10_000
_LABEL_KEYS = ("class", "class_name")


@dataclass(frozen=True)
class MqttConfig:
    """Options of :class:`MqttSink` (times in seconds).

    Attributes:
        host, port: the broker.
        client_id: MQTT client id (empty: ``percept-<pid>-<random>``).
        username, password: broker credentials (None: anonymous).
        keepalive_s: MQTT keep-alive interval.
        reconnect_min_s, reconnect_max_s: first and largest wait between reconnect attempts.
        prefix: first topic level of everything published.
        queue_size: event messages held unacknowledged at most (see the module docstring).
        snapshots: publish event snapshots on ``<prefix>/<camera>/<label>/snapshot``.

    The connection options come first, then what is published.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 10.0
    prefix: str = "percept"
    queue_size: int = 1000
    snapshots: bool = True

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host: expected a host name or address, got ''")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: expected 1..65535, got {self.port}")
        if not self.prefix or any(c in self.prefix for c in "+#\0") or self.prefix.strip("/") != self.prefix:
            raise ValueError(f"prefix: expected topic levels without wildcards or an outer '/', "
                             f"got {self.prefix!r}")
        require_counts(self, "keepalive_s", "queue_size")
        require_backoff(self, "reconnect_min_s", "reconnect_max_s")


def topic_level(text: str) -> str:
    """``text`` as one MQTT topic level: ``/``, ``+``, ``#`` and NUL become ``_``; empty is ``_``."""
    out = "".join("_" if c in "/+#\0" else c for c in text)
    return out or "_"


def event_camera(e: Event) -> str:
    """The camera an event belongs to: its ``camera``, else its ``frame_id``, else ``default``."""
    return e.camera or e.frame_id or "default"


def event_label(e: Event) -> str:
    """The object class of the event (``evidence["class"]`` / ``["class_name"]``) or its type."""
    for key in _LABEL_KEYS:
        value = e.evidence.get(key)
        if isinstance(value, str) and value:
            return value
    return e.event_type


def _event_key(e: Event) -> str:
    return e.event_id or f"{event_camera(e)}:{e.event_type}:{e.zone}:{','.join(map(str, e.track_ids))}"


class MqttSink:
    """Publishes events to an MQTT broker (see the module docstring)."""

    def __init__(self, config: MqttConfig, name: str = "mqtt") -> None:
        self.config = config
        self.name = name
        self.stats = SinkStats()
        self.available_topic = f"{config.prefix}/available"
        self.events_topic = f"{config.prefix}/events"
        self._lock = threading.Condition()  # guards everything below and the stats
        self._backlog: deque[_Out] = deque()  # waiting for the connection to be ready
        self._unacked: dict[int, bool] = {}  # mid handed to paho -> is an event, until PUBACK
        self._acked_early: set[int] = set()  # PUBACKs that came before publish() returned
        self._pending_events = 0  # events in the backlog or unacknowledged
        self._connected = False  # the broker accepted the connection
        self._ready = False  # connected and the backlog flushed: publish directly
        self._gate_mid: int | None = None  # the "online" message whose PUBACK releases the backlog
        self._closing = False
        self._state = _CountState(config.prefix)
        client_id = config.client_id or f"percept-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                        protocol=mqtt.MQTTv311)
        c.will_set(self.available_topic, "offline", qos=1, retain=True)
        c.reconnect_delay_set(config.reconnect_min_s, config.reconnect_max_s)  # type: ignore[arg-type]
        c.max_queued_messages_set(0)  # unbounded in paho; event messages are bounded here
        if config.username is not None:
            c.username_pw_set(config.username, config.password)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self._client = c
        c.connect_async(config.host, config.port, keepalive=config.keepalive_s)
        c.loop_start()

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection (and it was not lost since)."""
        return self._connected

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            with self._lock:
                self.stats.connect_failures += 1
            log.warning("%s: broker %s:%d refused the connection: %s", self.name, self.config.host,
                        self.config.port, reason)
            return
        with self._lock:
            self._connected, self._ready = True, False
            self.stats.connects += 1
            # the counts as they are now go out after the backlog; later changes queue behind them
            self._backlog.extend(_Out(t, str(n), True, False) for t, n in self._state.counts.items())
            queued = self._pending_events
        log.info("%s: connected to %s:%d (connection %d, %d events queued)", self.name, self.config.host,
                 self.config.port, self.stats.connects, queued)
        mid = self._hand_over(_Out(self.available_topic, "online", True, False))
        if mid is None:  # refused: nothing to wait for
            self._flush_backlog()
            return
        with self._lock:
            self._gate_mid = mid

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        with self._lock:
            self.stats.connect_failures += 1
            n = self.stats.connect_failures
        if n == 1 or n % 10 == 0:
            log.warning("%s: cannot connect to %s:%d (%d failed attempts)", self.name, self.config.host,
                        self.config.port, n)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any) -> None:
        with self._lock:
            was = self._connected
            self._connected = self._ready = False
            self._gate_mid = None
            if was and not self._closing:
                self.stats.disconnects += 1
        if was and not self._closing:
            log.warning("%s: connection to %s:%d lost (%s); reconnecting", self.name, self.config.host,
                        self.config.port, reason)

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        with self._lock:
            is_event = self._unacked.pop(mid, None)
            if is_event is None:
                self._acked_early.add(mid)
            elif is_event:
                self._pending_events -= 1
                self.stats.delivered += 1
            release = mid == self._gate_mid and self._connected
            if release:
                self._gate_mid = None
            self._lock.notify_all()
        if release:
            self._flush_backlog()

    def _flush_backlog(self) -> None:
        """Hand the backlog to paho in order, then let ``send`` publish directly (network thread)."""
        while True:
            with self._lock:
                if not self._connected:
                    return
                if not self._backlog:
                    self._ready = True
                    return
                out = self._backlog.popleft()
                if out.event:
                    self._pending_events -= 1  # counted again by _hand_over
            self._hand_over(out)

    # -- publishing ---------------------------------------------------------------------------
    def _hand_over(self, out: _Out) -> int | None:
        """``publish`` one message to paho (never with the lock held); its mid, None if refused."""
        info = self._client.publish(out.topic, out.payload, qos=1, retain=out.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: paho keeps it
            log.error("%s: publish on %s refused: %s", self.name, out.topic, mqtt.error_string(info.rc))
            if out.event:
                with self._lock:
                    self.stats.failed += 1
            return None
        with self._lock:
            if out.event:
                self._pending_events += 1
            if info.mid in self._acked_early:
                self._acked_early.discard(info.mid)
                if out.event:
                    self._pending_events -= 1
                    self.stats.delivered += 1
            else:
                self._unacked[info.mid] = out.event
        return info.mid

    def _emit(self, outs: list[_Out]) -> None:
        """Publish ``outs`` now if the connection is ready, else queue them (lock not held)."""
        with self._lock:
            direct = self._ready and not self._backlog
            if not direct:
                keep = [o for o in outs if o.event or self._connected]  # counts: resent on connect
                self._backlog.extend(keep)
                self._pending_events += sum(o.event for o in keep)
                return
        for out in outs:
            self._hand_over(out)

    def send(self, event: Event) -> None:
        """Publish ``event`` on ``<prefix>/events`` and update the retained counts."""
        phase = EventPhase(event.phase)  # Event validates its phase: every one has a type
        kind = PHASE_TYPES[phase]
        after = event_to_json(event)
        with self._lock:
            self.stats.accepted += 1
            before, changed = self._state.apply(event, phase, after)
            room = self._pending_events < self.config.queue_size
            self.stats.overflow += not room
            n, connected = self.stats.overflow, self._connected
        outs = [_Out(t, str(c), True, False) for t, c in changed]
        if room:
            payload = json.dumps({"type": kind, "before": before, "after": after}, separators=(",", ":"),
                                 allow_nan=False)
            outs.insert(0, _Out(self.events_topic, payload, False, True))
        elif n == 1 or n % 100 == 0:
            log.warning("%s: %d events unacknowledged (queue_size), dropped the newest (%d so far)",
                        self.name, self.config.queue_size, n)
        if connected and self.config.snapshots and (jpeg := event_snapshot(event)):
            cam, label = topic_level(event_camera(event)), topic_level(event_label(event))
            outs.append(_Out(f"{self.config.prefix}/{cam}/{label}/snapshot", jpeg, True, False))
        self._emit(outs)

    def close(self, timeout_s: float = 5.0) -> None:
        """Publish ``offline``, wait up to ``timeout_s`` for acknowledgements, disconnect.

        Events still unacknowledged then are counted as failed.
        """
        self._closing = True
        self._emit([_Out(self.available_topic, "offline", True, False)])
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._lock:
            while (self._unacked or self._backlog) and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            lost, self._pending_events = self._pending_events, 0
            self.stats.failed += lost
            self._unacked.clear()
            self._backlog.clear()
        if lost:
            log.error("%s: closed with %d events unacknowledged", self.name, lost)


@dataclass(frozen=True)
class _Out:
    """One MQTT message to publish (QoS 1)."""

    topic: str
    payload: str | bytes
    retain: bool
    event: bool  # an event message (counted in the queue bound and the stats)


class _CountState:
    """The open events and the retained counts derived from them (callers hold the sink's lock)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.counts: dict[str, int] = {}  # state topic -> count
        self._last: OrderedDict[str, dict[str, Any]] = OrderedDict()  # event key -> last "after"
        self._open: OrderedDict[str, tuple[str, frozenset[int | str]]] = OrderedDict()

    def topic(self, e: Event) -> str:
        """``<prefix>/<camera>[/<zone>]/<label>`` of ``e``."""
        parts = [self.prefix, topic_level(event_camera(e))]
        if e.zone:
            parts.append(topic_level(e.zone))
        return "/".join([*parts, topic_level(event_label(e))])

    def apply(self, e: Event, phase: EventPhase,
              after: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, int]]]:
        """Record ``e``: its ``before`` and the state topics whose count changed."""
        key = _event_key(e)
        before = self._last.pop(key, after)
        old = self._open.pop(key, None)
        topic = self.topic(e)
        if phase != EventPhase.END:
            self._last[key] = after
            self._open[key] = (topic, frozenset(e.track_ids) or frozenset([key]))
            if len(self._open) > MAX_OPEN_EVENTS:
                self._open.popitem(last=False)
                self._last.popitem(last=False)
        changed = []
        for t in {topic} | ({old[0]} if old else set()):
            members: set[int | str] = set()
            for tp, m in self._open.values():
                if tp == t:
                    members |= m
            if self.counts.get(t) != len(members):
                self.counts[t] = len(members)
                changed.append((t, len(members)))
        return before, sorted(changed)
