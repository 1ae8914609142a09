"""``percept bench events``: from the track update that satisfies a rule to the event, 200 tracks, 20 rules.

    python -m bench.events [--tracks 200] [--updates 600] [--rate 50] [--no-bus] [--json]

Synthetic scene (ground frame, 100 x 100 m): 20 rules of 8 types -- intrusion on 8 zones,
loitering x2, wrong way x2, speed x2, running, stopped vehicle, crowding x2, line crossing x2 --
over ``--tracks`` 3D tracks (80 % walkers at 0.5-2 m/s, some runners and cars, a few standing
and a few bags), 10 Hz of simulated time, so every update satisfies some rule.

* **engine**: :meth:`events.engine.EventEngine.update` in this process, per update: p50 / p99 of
  all updates and of those that raised or updated an event (wall time), and of the CPU time the
  update used (``cpu``: what the engine costs when the machine is shared; the row also records
  the load average).
* **bus**: the ``events`` node in its own process (``python -m percept.shell``, as the launcher
  runs it), fed ``Tracks`` over ipc at ``--rate`` updates per second of wall time; for every
  ``Event`` a subscriber here receives on ``events/bench``, latency = its arrival time - the time
  the ``Tracks`` update it came from (same ``stamp_ns``) was published (just before its encode
  and send). The arrival time is taken when the subscriber's ``recv`` returns the message's
  frames: the receive loop takes every message already queued, stamping each, and decodes them
  after the run, so that the later events of an update are not charged the time this process
  spends decoding the earlier ones (7 events per update on average, up to 28; decoding each
  before taking the next added ~0.2 ms at p50 and ~1 ms at p99 to this row).
* **relay**: the same ``Tracks`` through a pass-through ``relay`` node in the same way: what the
  bus, the codec and the machine's scheduling cost without any rules.

``run()`` returns the rows as dicts; ``main()`` prints them (``--json``: one JSON list);
``register(registry)`` adds ``percept bench events`` (for a ``percept.commands`` entry point).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from events.engine import EventEngine
from events.scene import scene_from_dict
from percept.bus import Publisher, Subscriber
from percept.codec import decode
from percept.messages import Event, Tracks, TrackStatus
from percept.shell import NodeSpec

CLASSES = ("car", "truck", "pedestrian", "cyclist", "bag")
DT_S = 0.1


def bench_scene() -> dict[str, Any]:
    """The 20-rule scene as a mapping (see the module docstring)."""
    def box(x: float, y: float, w: float = 10.0, h: float = 10.0) -> list[list[float]]:
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    zones: dict[str, Any] = {f"z{i}": {"polygon": box(10.0 + 20.0 * (i % 4), 10.0 + 50.0 * (i // 4))}
                             for i in range(8)}
    zones.update(band_a={"polygon": box(0, 30, 100, 15), "direction_deg": 0.0},
                 band_b={"polygon": box(0, 65, 100, 15), "direction_deg": 180.0},
                 road={"polygon": box(0, 0, 100, 8), "speed_limit": 5.0},
                 plaza={"polygon": box(0, 0, 100, 100)})
    rules: list[dict[str, Any]] = [{"type": "intrusion", "zone": f"z{i}", "min_dwell_s": 0.5}
                                   for i in range(8)]
    rules += [{"type": "loitering", "name": f"loiter_{z}", "zone": z, "dwell_s": 8.0, "radius": 2.0}
              for z in ("band_a", "band_b")]
    rules += [{"type": "wrong_way", "name": f"wrong_{z}", "zone": z, "min_duration_s": 1.0}
              for z in ("band_a", "band_b")]
    rules += [{"type": "speed", "name": "speed_road", "zone": "road", "classes": ["car"]},
              {"type": "speed", "name": "speed_any", "limit": 8.0},
              {"type": "running", "zone": "plaza"},
              {"type": "stopped_vehicle", "zone": "road", "min_duration_s": 3.0},
              {"type": "crowding", "name": "crowd_a", "zone": "band_a", "max_count": 25},
              {"type": "crowding", "name": "crowd_b", "zone": "band_b", "max_count": 25},
              {"type": "line_crossing", "name": "gate_w", "line": "west"},
              {"type": "line_crossing", "name": "gate_e", "line": "east"}]
    lines = {"west": {"points": [[33.0, 0.0], [33.0, 100.0]]},
             "east": {"points": [[66.0, 0.0], [66.0, 100.0]]}}
    return {"name": "bench", "camera": "bench", "frame": "ground", "zones": zones, "lines": lines,
            "rules": rules, "lifecycle": {"cooldown_s": 5.0, "end_after_s": 1.0, "update_every_s": 1.0}}


def make_updates(n_tracks: int, n_updates: int, seed: int = 0) -> list[Tracks]:
    """``n_updates`` Tracks messages, ``DT_S`` apart, of ``n_tracks`` walkers bouncing in the square."""
    rng = np.random.default_rng(seed)
    kind = rng.choice([2, 0, 4], size=n_tracks, p=[0.85, 0.12, 0.03])
    speed = np.where(kind == 0, rng.uniform(2.0, 12.0, n_tracks), rng.uniform(0.5, 2.0, n_tracks))
    speed[rng.random(n_tracks) < 0.05] = 3.5  # runners
    speed[(kind == 4) | (rng.random(n_tracks) < 0.05)] = 0.0  # bags and people standing
    heading = rng.uniform(-np.pi, np.pi, n_tracks)
    pos = rng.uniform(0.0, 100.0, (n_tracks, 2))
    ids = np.arange(1, n_tracks + 1, dtype=np.int64)
    out = []
    for k in range(n_updates):
        heading += rng.normal(0.0, 0.05, n_tracks)
        pos += DT_S * speed[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        for axis in (0, 1):  # bounce off the walls
            low, high = pos[:, axis] < 0, pos[:, axis] > 100
            pos[:, axis] = np.clip(pos[:, axis], 0, 100)
            if axis == 0:
                heading[low | high] = np.pi - heading[low | high]
            else:
                heading[low | high] = -heading[low | high]
        size = np.tile([0.5, 0.6, 1.75], (n_tracks, 1))
        state = np.concatenate([pos, np.full((n_tracks, 1), 0.9), size], axis=1)
        out.append(Tracks(stamp_ns=round((k + 1) * DT_S * 1e9), frame_id="world", track_id=ids,
                          class_id=kind.astype(np.int32), confidence=np.ones(n_tracks, np.float32),
                          state=state.astype(np.float32), age=np.full(n_tracks, k + 1, np.int32),
                          status=np.full(n_tracks, TrackStatus.CONFIRMED, np.uint8),
                          sensors=np.zeros(n_tracks, np.uint32), state_fields=("x", "y", "z", "l", "w", "h"),
                          class_names=CLASSES))
    return out


def _pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) if values else np.zeros(1)
    return {"n": len(values), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max())}


def bench_engine(updates: list[Tracks]) -> dict[str, Any]:
    """Per-update time of EventEngine.update, milliseconds."""
    engine = EventEngine(scene_from_dict(bench_scene(), "bench"))
    every, with_events, cpu, n_events = [], [], [], 0
    for msg in updates:
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        events = engine.update(msg)
        ms = (time.perf_counter_ns() - t0) / 1e6
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        every.append(ms)
        if events:
            with_events.append(ms)
            n_events += len(events)
    warm = len(updates) // 10  # the first second fills the histories
    return {"kind": "engine", "rules": len(engine.rules), "tracks": len(updates[0]), "events": n_events,
            "all": _pct(every[warm:]), "with_events": _pct(with_events), "cpu": _pct(cpu[warm:]),
            "load_avg_1min": os.getloadavg()[0], "cpus": os.cpu_count()}


def _through_node(updates: list[Tracks], rate_hz: float, workdir: Path, node_type: str,
                  config: dict[str, Any], out_prefix: str) -> list[tuple[int, Any]]:
    """Publish ``updates`` on ``bench/tracks`` to a node of ``node_type`` in its own process;
    ``(latency ns, message)`` of everything it publishes under ``out_prefix`` (latency: arrival here
    - publication of the Tracks update with the message's ``stamp_ns``)."""
    tracks_ep, out_ep = f"ipc://{workdir}/tracks.sock", f"ipc://{workdir}/out.sock"
    spec = NodeSpec(name="node", type=node_type, endpoint=out_ep, config=config, connect=(tracks_ep,),
                    subscribe=("bench/tracks",), policy="reliable", hwm=1000, stats_period_s=0.0)
    pub = Publisher(tracks_ep, hwm=1000, send_timeout_ms=-1)
    proc = subprocess.Popen([sys.executable, "-m", "percept.shell", spec.to_json()], env=dict(os.environ))
    sent: dict[int, int] = {}
    got: list[tuple[int, list[Any]]] = []  # (arrival ns, frames), decoded after the run

    def take(sub: Subscriber, timeout: float) -> None:
        """Wait up to ``timeout`` s for a message, then take every one already queued, each stamped
        as it is received."""
        frames = sub.recv_frames(timeout)
        while frames is not None:
            got.append((time.time_ns(), frames))
            frames = sub.recv_frames(0.0)

    try:
        if not pub.wait_for_subscribers(1, 30.0):
            raise RuntimeError(f"the {node_type} node did not subscribe within 30 s")
        sub = Subscriber([out_ep], (out_prefix,), policy="reliable", hwm=10000)
        time.sleep(1.0)  # let our subscription reach the node's publisher
        t_next = time.perf_counter()
        for msg in updates:
            t_next += 1.0 / rate_hz
            while (left := t_next - time.perf_counter()) > 0:
                take(sub, min(left, 0.005))
            sent[msg.stamp_ns] = time.time_ns()
            pub.publish("bench/tracks", msg)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            take(sub, 0.1)
        sub.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        pub.close()
    msgs = [(t, decode(frames).msg) for t, frames in got]
    return [(t - sent[m.stamp_ns], m) for t, m in msgs if m.stamp_ns in sent]


def bench_bus(updates: list[Tracks], rate_hz: float, workdir: Path) -> list[dict[str, Any]]:
    """The events node's latency, and the same Tracks through a pass-through ``relay`` node (what
    the bus and the machine cost without any rules)."""
    scene_path = workdir / "bench-scene.yaml"
    scene_path.write_text(yaml.safe_dump(bench_scene()), encoding="utf-8")
    got = _through_node(updates, rate_hz, workdir, "events.node:EventsNode", {"scene": str(scene_path)},
                        "events/")
    lat = [ns / 1e6 for ns, e in got if isinstance(e, Event)]
    starts = [ns / 1e6 for ns, e in got if isinstance(e, Event) and e.phase == "start"]
    relay = [ns / 1e6 for ns, _ in _through_node(updates, rate_hz, workdir, "relay",
                                                 {"rename": {"bench/": "out/"}}, "out/")]
    return [{"kind": "bus", "rate_hz": rate_hz, "updates": len(updates), "events": len(lat),
             "all": _pct(lat), "starts": _pct(starts), "load_avg_1min": os.getloadavg()[0]},
            {"kind": "relay", "rate_hz": rate_hz, "updates": len(updates), "all": _pct(relay)}]


def run(n_tracks: int = 200, n_updates: int = 600, rate_hz: float = 50.0, bus: bool = True,
        seed: int = 0) -> list[dict[str, Any]]:
    """The engine row and (with ``bus``) the bus and relay rows."""
    updates = make_updates(n_tracks, n_updates, seed)
    rows = [bench_engine(updates)]
    if bus:
        with tempfile.TemporaryDirectory(prefix="pev-", dir="/tmp") as d:
            rows += bench_bus(updates, rate_hz, Path(d))
    return rows


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``percept bench events`` / ``python -m bench.events``."""
    ap.add_argument("--tracks", type=int, default=200, help="tracks per update (20 rules over them)")
    ap.add_argument("--updates", type=int, default=600, help="Tracks updates (10 Hz of simulated time)")
    ap.add_argument("--rate", type=float, default=50.0, help="bus: updates published per second of wall time")
    ap.add_argument("--no-bus", action="store_true", help="engine only")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")


def register(registry: Any) -> None:
    """Add ``bench events`` to ``registry.bench`` (for the ``percept.commands`` entry points)."""
    b = registry.bench.add_parser("events", help="rule latency: 200 tracks, 20 rules, engine and bus")
    add_arguments(b)
    b.set_defaults(func=report)


def report(args: argparse.Namespace) -> int:
    """Run with parsed ``args`` and print the rows."""
    rows = run(args.tracks, args.updates, args.rate, bus=not args.no_bus)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        for part in ("all", "with_events", "cpu", "starts"):
            if part in r:
                p = r[part]
                print(f"{r['kind']:6s} {part:11s} n {p['n']:6d}  p50 {p['p50_ms']:7.3f} ms  "
                      f"p99 {p['p99_ms']:7.3f} ms  max {p['max_ms']:7.3f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    return report(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
