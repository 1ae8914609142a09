"""CLI commands ``percept replay``, ``percept rerun``, ``percept import`` and ``percept report``.

    percept replay LOG [--rate 2.0|max] [--loop] [--start SEC] [--end SEC] [--topics P ...]
                       [--paused] [--endpoint EP]
    percept rerun LOG --graph GRAPH.yaml --out LOG2 [--with-inputs]
    percept import mot --seq SEQ_DIR --out LOG
    percept import kitti-tracking --root R --seq N --out LOG
    percept import frames --dir D --fps F --out LOG
    percept report LOG --gt GT_TOPIC_OR_FILE --out report.html [--tracks T ...]

Registered through :func:`register` (entry-point group ``percept.commands``). On a terminal,
``replay``, ``rerun``, ``import`` and ``report`` show a progress bar on stderr.
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
from collections.abc import Callable, Iterator
from typing import Any

from percept import cliutil
from percept.cliutil import out as _out

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


def playback_progress(update: cliutil.ProgressUpdate) -> Callable[[Any], None]:
    """A :class:`replay.player.Player` ``progress`` callback drawing on a :func:`percept.cliutil.progress`
    bar: log seconds played of the log's span, messages sent and the play state."""

    def show(p: Any) -> None:
        state = "paused" if p.paused else "playing"
        update(p.position_s, p.duration_s, status=f"{p.sent} msgs {state}")

    return show


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
    """Play the log; 0, or an error when it holds nothing readable (e.g. ``--skip-bad`` on a log
    whose every chunk is broken)."""
    from replay.errors import LogError
    from replay.player import Player

    player = Player(args.log, args.endpoint, rate=args.rate, loop=args.loop, start_s=args.start,
                    end_s=args.end, topics=args.topics, paused=args.paused,
                    wait_subscribers=args.wait_subscribers, skip_bad=args.skip_bad)
    try:
        if player.available == 0:
            bad = player.reader.bad_parts
            raise LogError(f"{args.log}: nothing to play: no readable message"
                           + (f" ({bad} bad parts skipped)" if bad else ""))
        with cliutil.progress("replay", player.duration_s, unit="s") if not args.quiet \
                else contextlib.nullcontext(None) as update:
            player.progress = None if update is None else playback_progress(update)
            _play(player)
    finally:
        player.close()
    _out(f"sent {player.sent} messages on {player.publisher.endpoints}")
    return 0


def _play(player: Any) -> None:
    """Run ``player`` to its end: keys on a terminal, Ctrl-C stops."""
    try:
        player.start()
        if sys.stdin.isatty():
            keyboard_loop(player)
        while not player.join(0.2):
            pass
    except KeyboardInterrupt:
        player.stop()


def cmd_rerun(args: argparse.Namespace) -> int:
    from replay.rerun import rerun

    with cliutil.progress("rerun", unit="msgs") as progress:
        stats = rerun(args.log, args.graph, args.out, with_inputs=args.with_inputs, progress=progress)
    _out(json.dumps({"inputs": stats.inputs, "outputs": stats.outputs, "per_topic": stats.per_topic,
                     "decode_errors": stats.decode_errors, "span_s": stats.span_s,
                     "wall_s": round(stats.wall_s, 4), "speed_x": round(stats.speed_x, 1)}))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from replay import importers

    with cliutil.progress(f"import {args.dataset}", unit="frames") as progress:
        if args.dataset == "mot":
            report = importers.import_mot(args.seq, args.out, progress)
        elif args.dataset == "kitti-tracking":
            report = importers.import_kitti_tracking(args.root, args.seq, args.out, progress)
        else:
            report = importers.import_frames(args.dir, args.out, args.fps, progress=progress)
    _out(json.dumps({"out": args.out, "messages": report.messages, "rows": report.rows}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from replay.report import write_report

    with cliutil.progress("report", unit="s of log") as progress:
        results = write_report(args.log, args.gt, args.out, tracks=args.tracks or (), gt_topic=args.gt_topic,
                               fps=args.fps, iou_threshold=args.iou, progress=progress)
    for topic, rows in results.items():
        for r in rows:
            _out(f"{topic:24s} {r[0]:12s} MOTA {r[1]:6.2f}  IDF1 {r[2]:6.2f}  IDSW {r[4]}")
    _out(f"wrote {args.out}")
    return 0


def register(registry: Any) -> None:
    """Add ``replay``, ``rerun``, ``import`` and ``report`` to the ``percept`` command line."""
    sub = registry.commands
    p = sub.add_parser("replay", help="play a recorded log onto the bus",
                       description="Play a recorded log onto the bus at its recorded timing. On a terminal: "
                                   "space pauses/resumes, s steps, left/right seek 5 s, q quits.")
    p.add_argument("log", help="MCAP log")
    p.add_argument("--rate", type=_rate, default="1.0", help="speed factor, or 'max' for as fast as possible")
    p.add_argument("--loop", action="store_true", help="start again at --start after the end")
    p.add_argument("--start", type=float, default=0.0, metavar="SEC", help="seconds after the log start")
    p.add_argument("--end", type=float, default=None, metavar="SEC",
                   help="seconds after the log start (default: the end)")
    p.add_argument("--topics", nargs="+", default=None, metavar="PREFIX",
                   help="topic prefixes to play (default: all)")
    p.add_argument("--paused", action="store_true", help="start paused (space or s to go)")
    p.add_argument("--endpoint", nargs="+", default=["tcp://127.0.0.1:5600"], metavar="EP",
                   help="publisher bind address(es); watch with `percept echo TOPIC --endpoint EP`")
    p.add_argument("--wait-subscribers", type=int, default=0, metavar="N",
                   help="wait for N subscriptions (5 s at most) before playing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--skip-bad", action="store_true",
                   help="play every readable message of a truncated or corrupt log (bad parts are logged)")
    p.set_defaults(func=cmd_replay)

    r = sub.add_parser("rerun", help="re-run a graph's processors over a log in virtual time")
    r.add_argument("log", help="recorded MCAP log (the inputs)")
    r.add_argument("--graph", required=True, metavar="YAML", help="graph file whose nodes are re-run")
    r.add_argument("--out", required=True, metavar="LOG", help="MCAP log of the nodes' outputs")
    r.add_argument("--with-inputs", action="store_true", help="also copy the recorded topics (e.g. gt/)")
    r.set_defaults(func=cmd_rerun)

    i = sub.add_parser("import", help="import a dataset into a log")
    isub = cliutil.add_commands(i, "dataset", "datasets")
    m = isub.add_parser("mot", help="MOTChallenge sequence folder")
    m.add_argument("--seq", required=True, metavar="DIR", help="sequence folder (det/det.txt, gt/gt.txt)")
    k = isub.add_parser("kitti-tracking", help="KITTI tracking training set")
    k.add_argument("--root", required=True, metavar="DIR", help="KITTI tracking root (label_02/, ...)")
    k.add_argument("--seq", required=True, type=int, metavar="N", help="sequence number, e.g. 1")
    f = isub.add_parser("frames", help="a folder of JPEG/PNG frames")
    f.add_argument("--dir", required=True, metavar="DIR", help="folder of .jpg/.jpeg/.png frames")
    f.add_argument("--fps", required=True, type=float, help="frame rate of the frames")
    for q in (m, k, f):
        q.add_argument("--out", required=True, metavar="LOG", help="MCAP log to write")
        q.set_defaults(func=cmd_import)

    rp = sub.add_parser("report", help="HTML report: tracking metrics, latency, events")
    rp.add_argument("log", help="MCAP log")
    rp.add_argument("--gt", required=True, help="ground-truth topic, MOT gt.txt, or another log")
    rp.add_argument("--gt-topic", default=None, metavar="TOPIC",
                    help="topic in the --gt log (default: its first gt/ topic)")
    rp.add_argument("--tracks", nargs="+", default=None, metavar="TOPIC", help="Tracks topics (default: all)")
    rp.add_argument("--fps", type=float, default=None,
                    help="frame rate of a MOT gt.txt (default: its seqinfo.ini)")
    rp.add_argument("--iou", type=float, default=0.5, help="IoU of a 2D match")
    rp.add_argument("--out", required=True, metavar="HTML", help="report file to write")
    rp.set_defaults(func=cmd_report)
