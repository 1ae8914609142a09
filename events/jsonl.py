"""The one JSON form of an :class:`~percept.messages.Event`, JSON-lines files and the JSONL sink.

An event as JSON (one object per line in a ``.jsonl`` file; ``percept eval events`` reads these)::

    {"stamp_ns": 1700000000000000000, "event_type": "intrusion", "track_ids": [7],
     "zone": "lawn", "severity": "warning", "phase": "start", "event_id": "cam1-intrusion-3",
     "camera": "cam1", "evidence": {"dwell_s": 2.5}, "text": "person 7 in lawn",
     "frame_id": "cam1", "seq": 3}

``frame_id`` and ``seq`` (the message header) make the form lossless; readers default them to
``""`` and 0, so minimal files decode. The JPEG snapshot, when there is one and it is asked for,
travels base64-encoded under ``"snapshot_jpeg_b64"``. Evidence floats that JSON cannot hold
(NaN, +-inf) are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

A line without the lifecycle fields (``event_id``, ``phase``, ``camera``; an ``Event`` v1 such as
the simulator's ground truth) decodes with their v1 reading: ``""``, ``"start"``, ``""``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from events.errors import EventsError, SinkError
from events.sinks.base import SinkStats
from percept.errors import MessageError
from percept.messages import Event, EventPhase

log = logging.getLogger(__name__)

#: Key of the base64 JPEG snapshot in the JSON form.
SNAPSHOT_KEY = "snapshot_jpeg_b64"
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def event_snapshot(e: Event) -> bytes:
    """The event's JPEG snapshot bytes (``b""`` when it has none)."""
    return np.asarray(e.snapshot, dtype=np.uint8).tobytes()


def _json_value(v: int | float | str | bool) -> int | float | str | bool:
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def event_to_json(e: Event, *, snapshot: bool = False) -> dict[str, Any]:
    """The JSON form of ``e`` (see the module docstring); ``snapshot`` adds the base64 JPEG."""
    d: dict[str, Any] = {
        "stamp_ns": e.stamp_ns, "event_type": e.event_type, "track_ids": list(e.track_ids),
        "zone": e.zone, "severity": str(e.severity),
        "event_id": e.event_id, "phase": str(e.phase), "camera": e.camera,
        "evidence": {k: _json_value(v) for k, v in e.evidence.items()},
        "text": e.text, "frame_id": e.frame_id, "seq": e.seq,
    }
    if snapshot and (jpeg := event_snapshot(e)):
        d[SNAPSHOT_KEY] = base64.b64encode(jpeg).decode("ascii")
    return d


def event_json_line(e: Event, *, snapshot: bool = False) -> str:
    """``e`` as one compact, strict-JSON line (no trailing newline)."""
    return json.dumps(event_to_json(e, snapshot=snapshot), separators=(",", ":"), allow_nan=False)


_REQUIRED = object()


def _get(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in d:
        if default is _REQUIRED:
            raise EventsError(f"event JSON: missing required key {key!r}")
        return default
    value = d[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise EventsError(f"event JSON: {key!r}: expected {getattr(kind, '__name__', kind)}, "
                          f"got {type(value).__name__} {value!r:.60}")
    return value


def event_from_json(d: Mapping[str, Any]) -> Event:
    """The :class:`Event` of JSON form ``d``; keys it does not know are ignored.

    Raises:
        EventsError: ``d`` is not an object, a required key (``stamp_ns``, ``event_type``) is
            missing, or a value has the wrong type or is invalid; the message names the key.
    """
    if not isinstance(d, Mapping):
        raise EventsError(f"event JSON: expected an object, got {type(d).__name__}")
    track_ids = _get(d, "track_ids", list, [])
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in track_ids):
        raise EventsError(f"event JSON: 'track_ids': expected a list of integers, got {track_ids!r:.60}")
    evidence = _get(d, "evidence", dict, {})
    kwargs: dict[str, Any] = {
        "stamp_ns": _get(d, "stamp_ns", int, _REQUIRED),
        "event_type": _get(d, "event_type", str, _REQUIRED),
        "frame_id": _get(d, "frame_id", str, ""), "seq": _get(d, "seq", int, 0),
        "severity": _get(d, "severity", str, "info"), "track_ids": tuple(track_ids),
        "zone": _get(d, "zone", str, ""), "text": _get(d, "text", str, ""),
        "evidence": {k: _NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in evidence.items()},
        "event_id": _get(d, "event_id", str, ""), "phase": _get(d, "phase", str, EventPhase.START.value),
        "camera": _get(d, "camera", str, ""),
    }
    if SNAPSHOT_KEY in d:
        try:
            jpeg = base64.b64decode(_get(d, SNAPSHOT_KEY, str, ""), validate=True)
        except binascii.Error as exc:
            raise EventsError(f"event JSON: {SNAPSHOT_KEY!r}: invalid base64: {exc}") from exc
        kwargs["snapshot"] = np.frombuffer(jpeg, dtype=np.uint8).copy()
    try:
        return Event(**kwargs)
    except MessageError as exc:
        raise EventsError(f"event JSON: {exc}") from exc


def iter_events_jsonl(path: str | Path) -> Iterator[Event]:
    """The events of a JSON-lines file, in file order (blank lines skipped).

    Raises:
        EventsError: the file cannot be read or a line is not a valid event; the message names
            ``path:line``.
    """
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8")
    except OSError as exc:
        raise EventsError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield event_from_json(json.loads(line))
            except json.JSONDecodeError as exc:
                raise EventsError(f"{p}:{n}: invalid JSON: {exc}") from exc
            except EventsError as exc:
                raise EventsError(f"{p}:{n}: {exc}") from exc


def read_events_jsonl(path: str | Path) -> list[Event]:
    """All events of a JSON-lines file (see :func:`iter_events_jsonl`)."""
    return list(iter_events_jsonl(path))


@dataclass(frozen=True)
class JsonlSinkConfig:
    """Options of :class:`JsonlEventSink`.

    Attributes:
        path: the JSON-lines file, appended to (parent folders are made).
        snapshots: write each event's JPEG snapshot as base64 (off: files stay small).
    """

    path: str
    snapshots: bool = False

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("path: expected a file path, got ''")


class JsonlEventSink:
    """Appends one JSON line per event to a file, flushed per event, fsync'ed on close.

    Before each write the sink checks that ``path`` still names the file it has open: a file
    rotated (renamed) or removed under it is closed and ``path`` opened afresh, so
    ``logrotate``-style rotation needs no signal. A write error counts the event as failed; the
    next event tries to reopen the file.
    """

    def __init__(self, config: JsonlSinkConfig, name: str = "jsonl") -> None:
        self.config = config
        self.name = name
        self.stats = SinkStats()
        self.path = Path(config.path)
        self._fh: IO[str] | None = None
        try:
            self._open()
        except OSError as exc:
            raise SinkError(f"{name}: cannot open {self.path}: {exc.strerror or exc}") from exc

    def _open(self) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

    def _current(self) -> IO[str]:
        """The open file, reopened first when ``path`` no longer names it."""
        fh = self._fh
        if fh is not None:
            try:
                st, own = os.stat(self.path), os.fstat(fh.fileno())
                if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
                    return fh
            except FileNotFoundError:
                pass
            log.info("%s: %s was rotated or removed, reopening", self.name, self.path)
            self._close_file()
        return self._open()

    def send(self, event: Event) -> None:
        """Append ``event`` as one line and flush it (never raises on an I/O error)."""
        self.stats.accepted += 1
        line = event_json_line(event, snapshot=self.config.snapshots) + "\n"
        try:
            fh = self._current()
            fh.write(line)
            fh.flush()
        except OSError as exc:
            self.stats.failed += 1
            log.error("%s: cannot write %s (%d failed so far): %s", self.name, self.path,
                      self.stats.failed, exc.strerror or exc)
            self._close_file()
            return
        self.stats.delivered += 1

    def _close_file(self, sync: bool = False) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        except OSError as exc:
            log.error("%s: cannot flush %s: %s", self.name, self.path, exc.strerror or exc)
        finally:
            fh.close()

    def close(self, timeout_s: float = 0.0) -> None:
        """Flush, fsync and close the file (``timeout_s`` is unused: writes are synchronous)."""
        self._close_file(sync=True)
