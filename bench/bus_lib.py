"""``percept bench bus``: throughput and one-hop latency of the bus against two baselines.

For each transport (ipc, tcp loopback) and payload (1 KB, 1 MB, a 1920x1080x3 uint8 frame) it
measures three implementations sending the same bytes between two processes:

* ``percept``: an :class:`~percept.messages.Image` through :class:`~percept.bus.Publisher` and
  :class:`~percept.bus.Subscriber` (encode, zero-copy send, full decode and validation);
* ``raw_zmq``: the same array buffer sent with plain ``send_multipart(copy=False)`` on an
  identically configured socket and received without decoding (the floor);
* ``pickle``: the same ``Image`` pickled into one frame and unpickled on receipt (what a naive
  implementation does; only ever on data this benchmark made itself).

Throughput: the sender sends as fast as back-pressure allows; the receiver times first to last
message. Latency: paced sends stamped with ``CLOCK_MONOTONIC`` (one clock for all processes on
Linux); the receiver subtracts. Each case runs ``repeat`` times interleaved, the order of the
implementations rotating every round; the median is kept.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from percept.bus import Publisher, Subscriber
from percept.codec import decode
from percept.messages import Image

PAYLOADS: dict[str, tuple[int, ...]] = {
    "1KB": (32, 32),
    "1MB": (1024, 1024),
    "frame_1080p": (1080, 1920, 3),
}
IMPLS = ("percept", "raw_zmq", "pickle")
TOPIC = "bench/image"


@dataclass
class Row:
    """One result row, as printed by ``--json``."""

    transport: str
    payload_bytes: int
    impl: str
    msgs_per_s: float
    mb_per_s: float
    p50_us: float
    p99_us: float


@dataclass(frozen=True)
class Case:
    impl: str
    endpoint: str
    shape: tuple[int, ...]
    mode: str  # "throughput" | "latency"
    count: int
    interval_s: float = 0.0


def _image(arr: np.ndarray, seq: int, stamp_ns: int) -> Image:
    enc = "bgr8" if arr.ndim == 3 else "mono8"
    return Image(stamp_ns=stamp_ns, frame_id="bench", seq=seq, encoding=enc, data=arr)


def _pin(index: int) -> set[int] | None:
    """Pin this process (and threads it starts later) to one CPU; return the old set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    old = set(cpus)
    os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    return old


def _sender(conn: Any) -> None:
    """Worker process: runs one send side per command until told to stop."""
    _pin(0)  # sender and its ZeroMQ I/O thread on one core, the receiver on another
    ctx = zmq.Context()
    while True:
        case: Case | None = conn.recv()
        if case is None:
            break
        arr = np.random.default_rng(0).integers(0, 255, case.shape, dtype=np.uint8)
        pub = Publisher(case.endpoint, hwm=100, send_timeout_ms=-1, context=ctx)
        raw = pub.socket  # the identically configured XPUB socket, for the baselines
        pub.wait_for_subscribers(1, 10.0)
        time.sleep(0.05)
        for i in range(case.count):
            now = time.monotonic_ns()
            if case.impl == "percept":
                pub.publish(TOPIC, _image(arr, i, now))
            elif case.impl == "raw_zmq":
                arr.reshape(-1)[:8] = np.frombuffer(now.to_bytes(8, "little"), np.uint8)
                raw.send_multipart([TOPIC.encode(), memoryview(arr).cast("B")], copy=False)
            else:
                raw.send_multipart([TOPIC.encode(), pickle.dumps(_image(arr, i, now), protocol=5)])
            if case.interval_s:
                time.sleep(case.interval_s)
        conn.send("sent")
        conn.recv()  # keep the socket open until the receiver has everything
        pub.close()
    ctx.term()


def _receive(case: Case, ctx: zmq.Context) -> tuple[list[int], float]:
    """Receive ``case.count`` messages; return per-message latencies (ns) and elapsed s."""
    lat: list[int] = []
    with Subscriber(case.endpoint, (TOPIC,), policy="reliable", hwm=100, context=ctx) as sub:
        t0 = 0.0
        for i in range(case.count):
            frames = sub.recv_frames(timeout=10.0)
            if frames is None:
                raise TimeoutError(f"benchmark receiver timed out after {i} messages")
            now = time.monotonic_ns()
            if i == 0:
                t0 = time.perf_counter()
            if case.impl == "percept":
                sent = decode(frames).msg.stamp_ns
            elif case.impl == "raw_zmq":
                sent = int.from_bytes(frames[1].buffer[:8], "little")
            else:
                sent = pickle.loads(frames[1].buffer).stamp_ns
            lat.append(now - sent)
        return lat, time.perf_counter() - t0


def _free_tcp() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def run(transports: tuple[str, ...] = ("ipc", "tcp"), payloads: tuple[str, ...] = tuple(PAYLOADS),
        repeat: int = 3, scale: float = 1.0,
        progress: Callable[[str], None] | None = None) -> list[Row]:
    """Measure every (transport, payload, impl); ``scale`` shrinks message counts (tests)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    worker = ctx.Process(target=_sender, args=(child,), daemon=True)
    worker.start()
    old_cpus = _pin(1)
    zctx = zmq.Context()  # created after pinning: its I/O thread shares the receiver's core
    rows: list[Row] = []
    tmp = Path(tempfile.mkdtemp(prefix="percept-bench-"))
    try:
        for transport in transports:
            for pname in payloads:
                shape = PAYLOADS[pname]
                nbytes = int(np.prod(shape))
                n_tp = max(20, int(scale * min(30000, 2e9 / nbytes)))  # ~2 GB or 30k messages
                n_lat = max(20, int(scale * (600 if nbytes > 2e6 else 1000)))
                samples: dict[str, dict[str, list[float]]] = {
                    i: {"rate": [], "p50": [], "p99": []} for i in IMPLS}
                for r in range(repeat):
                    # rotate the order each round so no implementation always runs in the same
                    # position (e.g. right after pickle's allocation-heavy latency run)
                    for impl in IMPLS[r % len(IMPLS):] + IMPLS[:r % len(IMPLS)]:
                        for mode, count in (("throughput", n_tp), ("latency", n_lat)):
                            ep = f"ipc://{tmp}/{r}{impl}{mode}.sock" if transport == "ipc" else _free_tcp()
                            case = Case(impl, ep, shape, mode, count,
                                        0.0 if mode == "throughput" else 0.002 + nbytes / 2e9)
                            parent.send(case)
                            lat, elapsed = _receive(case, zctx)
                            parent.recv()
                            parent.send("received")
                            if mode == "throughput":
                                samples[impl]["rate"].append((count - 1) / elapsed)
                            else:
                                us = np.asarray(lat[count // 10:]) / 1e3  # skip warm-up
                                samples[impl]["p50"].append(float(np.percentile(us, 50)))
                                samples[impl]["p99"].append(float(np.percentile(us, 99)))
                for impl in IMPLS:
                    s = samples[impl]
                    rate = statistics.median(s["rate"])
                    rows.append(Row(transport, nbytes, impl, round(rate, 1),
                                    round(rate * nbytes / 1e6, 1),
                                    round(statistics.median(s["p50"]), 1),
                                    round(statistics.median(s["p99"]), 1)))
                    if progress:
                        progress(f"{transport:4s} {pname:12s} {impl:8s} {rows[-1].msgs_per_s:>10.1f} msg/s "
                                 f"p50 {rows[-1].p50_us:8.1f} us  p99 {rows[-1].p99_us:8.1f} us")
    finally:
        zctx.term()
        if old_cpus is not None:
            os.sched_setaffinity(0, old_cpus)
        parent.send(None)
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
        for f in tmp.glob("*"):
            f.unlink(missing_ok=True)
        os.rmdir(tmp)
    return rows


def ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """percept against raw_zmq for each (transport, payload): throughput and p99 ratios."""
    out = []
    by = {(r.transport, r.payload_bytes, r.impl): r for r in rows}
    for (t, p, impl), r in by.items():
        raw = by.get((t, p, "raw_zmq"))
        if impl == "percept" and raw is not None:
            out.append({"transport": t, "payload_bytes": p,
                        "throughput_vs_raw": round(r.msgs_per_s / raw.msgs_per_s, 3),
                        "p99_vs_raw": round(r.p99_us / raw.p99_us, 3)})
    return out


def rows_as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
