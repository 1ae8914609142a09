"""Look into a running graph or publisher: list its topics with rates, echo a topic as JSON.

Both connect a subscriber to every node's endpoint, as ``ros2 topic list`` / ``ros2 topic echo``
do: the endpoints come from the graph's manifest (``<run_dir>/graph.json``, written by the
launcher) or are given directly (``endpoints``: e.g. a ``percept replay`` publisher, which has
no run folder). :func:`message_values` is the JSON view of a message with its array contents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from percept.bus import Subscriber
from percept.codec import decode
from percept.errors import BusError, DecodeError
from percept.graph import Manifest
from percept.message import Message

MAX_ARRAY_ITEMS = 64
"""Arrays with more elements are shown by their first rows (or elements) in :func:`message_values`."""


@dataclass
class TopicInfo:
    """One topic seen on a running graph."""

    topic: str
    schema: str
    publisher: str
    count: int
    rate_hz: float
    bytes_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "schema": self.schema, "publisher": self.publisher,
                "count": self.count, "rate_hz": round(self.rate_hz, 2),
                "bytes_per_s": round(self.bytes_per_s, 1)}


def _wiring(run_dir: Path | None, endpoints: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """(endpoints to connect, topic -> publishing node) from a run folder or given endpoints."""
    if endpoints:
        return list(endpoints), {}
    if run_dir is None:
        raise BusError("introspect: give a run folder or publisher endpoints")
    manifest = Manifest.read(run_dir)
    publishers = {t: name for name, node in manifest.nodes.items()
                  for t in [*node.get("publishes", []), f"stats/{name}"]}
    return manifest.endpoints, publishers


def list_topics(run_dir: Path | None = None, duration_s: float = 1.0, *,
                endpoints: Sequence[str] | None = None) -> list[TopicInfo]:
    """Topics declared by the graph plus those heard during ``duration_s``, with rates.

    With ``endpoints`` (instead of ``run_dir``) only the topics heard are listed; their
    publisher is ``"?"``.
    """
    eps, publishers = _wiring(run_dir, endpoints)
    seen: dict[str, dict[str, Any]] = {}
    with Subscriber(eps, ("",), policy="reliable", hwm=1000) as sub:
        end = time.monotonic() + duration_s
        while (left := end - time.monotonic()) > 0:
            frames = sub.recv_frames(left)
            if frames is None:
                break
            try:
                env = decode(frames, sub.limits)
            except DecodeError:
                continue
            rec = seen.setdefault(env.topic, {"schema": env.msg.SCHEMA, "count": 0, "bytes": 0})
            rec["count"] += 1
            rec["bytes"] += sum(len(f.buffer) for f in frames)
    topics = sorted(set(seen) | set(publishers))
    out = []
    for t in topics:
        rec = seen.get(t, {"schema": "?", "count": 0, "bytes": 0})
        pub = publishers.get(t) or next((n for p, n in publishers.items() if t.startswith(p)), "?")
        out.append(TopicInfo(t, rec["schema"], pub, rec["count"], rec["count"] / duration_s,
                             rec["bytes"] / duration_s))
    return out


def echo(run_dir: Path | None = None, topic: str = "", count: int | None = None,
         timeout_s: float | None = None, on_error: Callable[[str], None] | None = None, *,
         endpoints: Sequence[str] | None = None, values: bool = False) -> Iterator[dict[str, Any]]:
    """Yield a JSON-able view of each message whose topic starts with ``topic``: its
    :meth:`~percept.message.Message.summary`, or with ``values`` its :func:`message_values`."""
    eps, _ = _wiring(run_dir, endpoints)
    n = 0
    end = time.monotonic() + timeout_s if timeout_s is not None else float("inf")
    with Subscriber(eps, (topic,), policy="reliable", hwm=1000) as sub:
        while count is None or n < count:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                env = sub.recv(min(left, 0.5))
            except DecodeError as exc:
                if on_error is not None:
                    on_error(str(exc))
                continue
            if env is None:
                continue
            n += 1
            yield {"topic": env.topic, **(message_values(env.msg) if values else env.msg.summary())}


def _plain(arr: np.ndarray) -> list[Any]:
    """``arr.tolist()``, with float32/float16 values at their own precision (0.9, not 0.8999999761)."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
        values = [float(str(v)) for v in arr.reshape(-1)]  # str of a float32 scalar: its shortest form
        return np.array(values, dtype=object).reshape(arr.shape).tolist()
    return arr.tolist()


def array_value(arr: np.ndarray, max_items: int = MAX_ARRAY_ITEMS) -> Any:
    """A numpy array as a JSON-able value: a (nested) list when it has at most ``max_items``
    elements, else ``{"dtype", "shape", "head", "truncated": True}`` where ``head`` holds the
    first rows that fit in ``max_items`` elements (or the first ``max_items`` elements, flat,
    when one row is bigger)."""
    if arr.size <= max_items:
        return _plain(arr)
    row = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    head = arr[: max_items // row] if 1 <= row <= max_items else arr.reshape(-1)[:max_items]
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "head": _plain(head), "truncated": True}


def message_values(msg: Message, max_items: int = MAX_ARRAY_ITEMS) -> dict[str, Any]:
    """JSON-able view of ``msg`` with contents: schema, header and scalar fields, and every
    array field through :func:`array_value`."""
    view: dict[str, Any] = {"schema": msg.SCHEMA, **msg.wire_scalars()}
    for name, arr in msg.wire_arrays().items():
        view[name] = array_value(arr, max_items)
    return view
