"""Look into a running graph: list its topics with rates, echo a topic as JSON.

Both read the graph's manifest (``<run_dir>/graph.json``, written by the launcher) and connect
a subscriber to every node's endpoint, as ``ros2 topic list`` / ``ros2 topic echo`` do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from percept.bus import Subscriber
from percept.codec import decode
from percept.errors import DecodeError
from percept.graph import Manifest


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


def list_topics(run_dir: Path, duration_s: float = 1.0) -> list[TopicInfo]:
    """Topics declared by the graph plus those heard during ``duration_s``, with rates."""
    manifest = Manifest.read(run_dir)
    seen: dict[str, dict[str, Any]] = {}
    with Subscriber(manifest.endpoints, ("",), policy="reliable", hwm=1000) as sub:
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
    publishers = {t: name for name, node in manifest.nodes.items()
                  for t in [*node.get("publishes", []), f"stats/{name}"]}
    topics = sorted(set(seen) | set(publishers))
    out = []
    for t in topics:
        rec = seen.get(t, {"schema": "?", "count": 0, "bytes": 0})
        pub = publishers.get(t) or next((n for p, n in publishers.items() if t.startswith(p)), "?")
        out.append(TopicInfo(t, rec["schema"], pub, rec["count"], rec["count"] / duration_s,
                             rec["bytes"] / duration_s))
    return out


def echo(run_dir: Path, topic: str, count: int | None = None, timeout_s: float | None = None,
         on_error: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Yield a JSON-able summary of each message whose topic starts with ``topic``."""
    manifest = Manifest.read(run_dir)
    n = 0
    end = time.monotonic() + timeout_s if timeout_s is not None else float("inf")
    with Subscriber(manifest.endpoints, (topic,), policy="reliable", hwm=1000) as sub:
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
            yield {"topic": env.topic, **env.msg.summary()}
