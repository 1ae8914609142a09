"""Replay timing accuracy: inter-message timing error of ``Player`` at rate 1.0 (target p99 < 2 ms).

    python bench/replay_timing.py [--seconds 5] [--hz 50]

Writes a log of ``Image`` messages at ``hz`` (plus a 13 Hz radar-like topic, so messages
interleave irregularly), replays it at rate 1.0 to a real Subscriber over ipc, and compares each
arrival time (monotonic, relative to the first) with its recorded log time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from percept.bus import Subscriber
from percept.messages import Image
from replay.log import LogWriter
from replay.player import Player


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--hz", type=float, default=50.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="percept-replay-"))
    log = tmp / "timing.mcap"
    times = sorted([("camera/a", int(k * 1e9 / args.hz)) for k in range(int(args.seconds * args.hz))]
                   + [("radar/b", int(k * 1e9 / 13)) for k in range(int(args.seconds * 13))],
                   key=lambda x: x[1])
    frame = np.zeros((48, 64, 3), np.uint8)
    seqs: dict[str, int] = {}
    with LogWriter(log, foxglove=False) as w:
        for topic, t in times:
            seq = seqs[topic] = seqs.get(topic, -1) + 1
            msg = Image(stamp_ns=t, frame_id="cam", seq=seq, encoding="bgr8", data=frame)
            w.write(topic, [bytes(f) for f in msg.to_frames(topic)], t)
    ep = f"ipc://{tmp}/play.sock"
    sub = Subscriber(ep, ("",), hwm=100000)
    player = Player(log, ep, rate=1.0, wait_subscribers=1)
    rx = []
    with player, sub:
        player.start()
        while sub.recv(1.0) is not None:
            rx.append(time.monotonic_ns())
        player.join(5.0)
    log_t = np.array([t for _, t in times], np.int64)
    rx_t = np.array(rx, np.int64)
    if len(rx_t) != len(log_t):
        sys.stderr.write(f"received {len(rx_t)} of {len(log_t)} messages\n")
        return 1
    err_ms = np.abs((rx_t - rx_t[0]) - (log_t - log_t[0])) / 1e6
    print(f"{len(log_t)} messages over {args.seconds:.1f} s at rate 1.0: timing error "
          f"p50 {np.median(err_ms):.3f} ms, p99 {np.percentile(err_ms, 99):.3f} ms, "
          f"max {err_ms.max():.3f} ms (target p99 < 2 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
