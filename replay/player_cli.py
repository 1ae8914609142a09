"""CLI commands ``percept replay``, ``percept rerun``, ``percept import`` and ``percept report``.

    percept replay LOG [--rate 2.0|max] [--loop] [--start SEC] [--end SEC] [--topics P ...]
                       [--paused] [--endpoint EP]
    percept rerun LOG --graph GRAPH.yaml --out LOG2 [--with-inputs]
    percept import mot --seq SEQ_DIR --out LOG
    percept import kitti-tracking --root R --seq N --out LOG
    percept import frames --dir D --fps F --out LOG
    percept report LOG --gt GT_TOPIC_OR_FILE --out report.html [--tracks T ...]

Registered through :func:`register` (entry-point group ``percept.commands``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

SEEK_STEP_S = 5.0


def _rate(text: str) -> float | None:
    if text.lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'max', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'max', got {text!r}")
    return value


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class ProgressBar:
    """A one-line text progress bar on stderr, redrawn at most every ``min_interval_s``."""

    def __init__(self, width: int = 40, min_interval_s: float = 0.1) -> None:
        self.width = width
        self.min_interval_s = min_interval_s
        self._last = 0.0

    def __call__(self, p: Any) -> None:
        import time

        now = time.monotonic()
        if now - self._last < self.min_interval_s:
            return
        self._last = now
        frac = min(1.0, p.position_s / p.duration_s) if p.duration_s > 0 else 1.0
        filled = round(frac * self.width)
        state = "paused" if p.paused else "playing"
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {p.position_s:7.2f}/"
                         f"{p.duration_s:.2f} s  {p.sent} msgs  {state}   ")
        sys.stderr.flush()


@contextlib.contextmanager
def _raw_tty() -> Iterator[None]:
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def keyboard_loop(player: Any) -> None:
    """Space pause/resume, s step, left/right seek -/+5 s, q quit, until playback ends."""
    with _raw_tty():
        while player.join(0.0) is False:
            ready, _, _ = select.select([sys.stdin], [], [], 0.1)
            if not ready:
                continue
            key = os.read(sys.stdin.fileno(), 8)
            pos = (player.position_ns - player.first_ns) / 1e9
            if key == b" ":
                player.toggle()
            elif key == b"s":
                player.pause()
                player.step()
            elif key == b"\x1b[C":
                player.seek(pos + SEEK_STEP_S)
            elif key == b"\x1b[D":
                player.seek(pos - SEEK_STEP_S)
            elif key in (b"q", b"\x03"):
                player.stop()
                break


def cmd_replay(args: argparse.Namespace) -> int:
    from replay.player import Player

    bar = ProgressBar() if not args.quiet else None
    player = Player(args.log, args.endpoint, rate=args.rate, loop=args.loop, start_s=args.start,
                    end_s=args.end, topics=args.topics, paused=args.paused, progress=bar,
                    wait_subscribers=args.wait_subscribers, skip_bad=args.skip_bad)
    try:
        player.start()
        if sys.stdin.isatty():
            keyboard_loop(player)
        while not player.join(0.2):
            pass
    except KeyboardInterrupt:
        player.stop()
    finally:
        player.close()
    if bar is not None:
        sys.stderr.write("\n")
    _out(f"sent {player.sent} messages on {player.publisher.endpoints}")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from replay.rerun import rerun

    stats = rerun(args.log, args.graph, args.out, with_inputs=args.with_inputs)
    _out(json.dumps({"inputs": stats.inputs, "outputs": stats.outputs, "per_topic": stats.per_topic,
                     "decode_errors": stats.decode_errors, "span_s": stats.span_s,
                     "wall_s": round(stats.wall_s, 4), "speed_x": round(stats.speed_x, 1)}))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from replay import importers

    if args.dataset == "mot":
        report = importers.import_mot(args.seq, args.out)
    elif args.dataset == "kitti-tracking":
        report = importers.import_kitti_tracking(args.root, args.seq, args.out)
    else:
        report = importers.import_frames(args.dir, args.out, args.fps)
    _out(json.dumps({"out": args.out, "messages": report.messages, "rows": report.rows}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from replay.report import write_report

    results = write_report(args.log, args.gt, args.out, tracks=args.tracks or (), gt_topic=args.gt_topic,
                           fps=args.fps, iou_threshold=args.iou)
    for topic, rows in results.items():
        for r in rows:
            _out(f"{topic:24s} {r[0]:12s} MOTA {r[1]:6.2f}  IDF1 {r[2]:6.2f}  IDSW {r[4]}")
    _out(f"wrote {args.out}")
    return 0


def register(registry: Any) -> None:
    """Add ``replay``, ``rerun``, ``import`` and ``report`` to the ``percept`` command line."""
    sub = registry.commands
    p = sub.add_parser("replay", help="play a recorded log onto the bus")
    p.add_argument("log")
    p.add_argument("--rate", type=_rate, default=1.0, help="speed factor or 'max' (default 1.0)")
    p.add_argument("--loop", action="store_true")
    p.add_argument("--start", type=float, default=0.0, help="seconds after the log start")
    p.add_argument("--end", type=float, default=None, help="seconds after the log start")
    p.add_argument("--topics", nargs="+", default=None, help="topic prefixes to play")
    p.add_argument("--paused", action="store_true", help="start paused (space/s to go)")
    p.add_argument("--endpoint", nargs="+", default=["tcp://127.0.0.1:5600"],
                   help="publisher bind address(es)")
    p.add_argument("--wait-subscribers", type=int, default=0, help="wait for N subscriptions (5 s max)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--skip-bad", action="store_true",
                   help="play every readable message of a truncated or corrupt log (bad parts are logged)")
    p.set_defaults(func=cmd_replay)

    r = sub.add_parser("rerun", help="re-run a graph's processors over a log in virtual time")
    r.add_argument("log")
    r.add_argument("--graph", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--with-inputs", action="store_true", help="also copy the recorded topics (e.g. gt/)")
    r.set_defaults(func=cmd_rerun)

    i = sub.add_parser("import", help="import a dataset into a log")
    isub = i.add_subparsers(dest="dataset", required=True)
    m = isub.add_parser("mot", help="MOTChallenge sequence folder")
    m.add_argument("--seq", required=True)
    k = isub.add_parser("kitti-tracking", help="KITTI tracking training set")
    k.add_argument("--root", required=True)
    k.add_argument("--seq", required=True, type=int)
    f = isub.add_parser("frames", help="a folder of JPEG/PNG frames")
    f.add_argument("--dir", required=True)
    f.add_argument("--fps", required=True, type=float)
    for q in (m, k, f):
        q.add_argument("--out", required=True)
        q.set_defaults(func=cmd_import)

    rp = sub.add_parser("report", help="HTML report: tracking metrics, latency, events")
    rp.add_argument("log")
    rp.add_argument("--gt", required=True, help="ground-truth topic, MOT gt.txt, or another log")
    rp.add_argument("--gt-topic", default=None, help="topic in the --gt log")
    rp.add_argument("--tracks", nargs="+", default=None, help="Tracks topics (default: all)")
    rp.add_argument("--fps", type=float, default=None, help="frame rate of a MOT gt.txt")
    rp.add_argument("--iou", type=float, default=0.5)
    rp.add_argument("--out", required=True)
    rp.set_defaults(func=cmd_report)



