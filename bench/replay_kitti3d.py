"""The 3D tracker re-running a recorded KITTI log: live over the bus at ``--rate max``, and in
virtual time with ``percept rerun`` (target: >= 10x faster than real time).

    python bench/replay_kitti3d.py [--seq 1] [--json OUT]

1. ``percept import kitti-tracking`` of sequence ``--seq`` (PointRCNN detections, 10 Hz) into a log.
2. Live: the ``tracker3d`` node of ``configs/kitti-track3d.yaml`` runs as its own process
   (launcher), subscribed to a :class:`replay.player.Player` playing the log at rate max; every
   track message is received by a Subscriber. Real-time factor = log span / wall time from the
   start of playback to the last track message; every detection message must give one.
3. Virtual time: ``rerun`` of the same log and graph, twice; real-time factor = log span / wall
   time, and the two output topics must be byte-identical.

Needs the shared data (``PERCEPT_DATA``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from percept.bus import Subscriber
from percept.config import build, load_yaml
from percept.graph import GraphConfig, validate
from percept.launcher import Launcher
from replay.importers import import_kitti_tracking
from replay.log import LogReader
from replay.player import Player
from replay.rerun import rerun

ROOT = Path(__file__).resolve().parent.parent
GRAPH = ROOT / "configs" / "kitti-track3d.yaml"
IN_TOPIC = "kitti/det_pointrcnn"
OUT_TOPIC = "kitti/det_pointrcnn/tracks"


def live(log: Path, tmp: Path) -> dict:
    """Play ``log`` at rate max into a launched tracker3d process; count and time its outputs."""
    spec = load_yaml(GRAPH)
    player_ep = f"ipc://{tmp}/player.sock"
    for node in spec["nodes"]:
        node["connect"] = [player_ep]
    graph = validate(build(GraphConfig, spec, "graph"))
    launcher = Launcher(graph, tmp / "run")
    (tracker_ep,) = [c.spec.endpoint for c in launcher.children.values()]
    with LogReader(log) as reader:
        n_in = sum(1 for _ in reader.messages([IN_TOPIC]))
    sub = Subscriber(tracker_ep, (OUT_TOPIC,), hwm=100000)
    launcher.start()
    try:
        player = Player(log, player_ep, rate=None, topics=[IN_TOPIC], wait_subscribers=1, wait_timeout_s=20.0)
        got = 0
        with player, sub:
            time.sleep(1.0)  # the tracker process imports and connects
            t0 = time.monotonic()
            player.start()
            last = t0
            while got < n_in:
                env = sub.recv(5.0)
                if env is None:
                    break
                got += 1
                last = time.monotonic()
            player.join(5.0)
            span_s = (player.last_ns - player.first_ns) / 1e9
    finally:
        launcher.stop()
    wall = last - t0
    return {"mode": "live, player rate max", "messages_in": n_in, "messages_out": got,
            "span_s": span_s, "wall_s": round(wall, 3), "speed_x": round(span_s / wall, 1) if wall else None}


def virtual(log: Path, tmp: Path) -> dict:
    """``rerun`` twice; time the first and compare the two output topics byte for byte."""
    outs, stats = [], []
    for k in range(2):
        out = tmp / f"rerun{k}.mcap"
        stats.append(rerun(log, GRAPH, out))
        with LogReader(out) as reader:
            outs.append([b"".join(bytes(f) for f in m.frames) for m in reader.messages([OUT_TOPIC])])
    s = stats[0]
    return {"mode": "percept rerun (virtual time)", "messages_in": s.inputs, "messages_out": len(outs[0]),
            "span_s": s.span_s, "wall_s": round(s.wall_s, 3), "speed_x": round(s.speed_x, 1),
            "byte_identical": outs[0] == outs[1]}


def main() -> int:
    from percept.data import data_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", type=int, default=1, help="KITTI tracking sequence")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pk3-", dir="/tmp"))
    log = tmp / f"kitti{args.seq}.mcap"
    import_kitti_tracking(data_dir() / "kitti_tracking", args.seq, log)
    rows = [live(log, tmp), virtual(log, tmp)]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"KITTI tracking {args.seq:04d}, tracker3d (configs/kitti-track3d.yaml); {platform.machine()}, "
          f"{platform.python_version()}")
    print("| mode | detection msgs | track msgs | log span s | wall s | speed-up vs real time |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['messages_in']} | {r['messages_out']} | {r['span_s']:.1f} | "
              f"{r['wall_s']:.2f} | {r['speed_x']} |")
    ok = all(r["messages_out"] == r["messages_in"] for r in rows) and rows[1]["byte_identical"]
    if not ok:
        sys.stderr.write("lost messages or non-identical reruns\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
