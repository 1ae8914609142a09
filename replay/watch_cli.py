"""``percept watch`` and ``percept demo`` (entry point ``replay.watch_cli:register``).

    percept watch SOURCE [--model M] [--scene scene.yaml] [--out DIR] [--loop] [--max-frames N] [--serve]
    percept demo [--duration SEC] [--out DIR] [--no-watch]

``watch`` runs the live graph of :mod:`replay.watch` on SOURCE (video file, image folder,
RTSP/HTTP URL, V4L2 device or MCAP log) until it ends or Ctrl-C, with a one-line live status when
stdout is a terminal and a summary at the end. ``demo`` runs :mod:`replay.demo`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from percept.cliutil import out as _out
from percept.cliutil import positive_int


def _status_line(status: dict[str, Any]) -> None:
    lat = status.get("latency_ms")
    text = (f"\r{status.get('fps', 0):5.1f} fps  latency {'-' if lat is None else f'{lat:.0f} ms':>7s}  "
            f"tracks {status.get('tracks', 0):3d}  events {status.get('events', 0):3d}  "
            f"drops {status.get('drops', 0):3d}  frames {status.get('frames', 0)}")
    sys.stdout.write(text)
    sys.stdout.flush()


def cmd_watch(args: argparse.Namespace) -> int:
    """``percept watch``: tracks and events of SOURCE (module docstring)."""
    from replay.watch import WatchOptions, output_name, run_watch

    if args.serve:
        _out("percept watch: --serve: the operator page does not exist yet; watching without it")
    out_dir = Path(args.out) if args.out else Path("out") / "watch" / output_name(args.source)
    opts = WatchOptions(source=args.source, out_dir=out_dir, model=args.model or "", scene=args.scene or "",
                        fps=args.fps, rate="max" if args.fast else "auto", loop=args.loop,
                        max_frames=args.max_frames)
    tty = sys.stdout.isatty()
    _out(f"watching {args.source} -> {out_dir} (Ctrl-C stops; node logs in the run folder)")
    result = run_watch(opts, duration_s=args.duration, on_status=_status_line if tty else None)
    if tty:
        sys.stdout.write("\n")
    for line in result.lines():
        _out(line)
    return result.code


def cmd_demo(args: argparse.Namespace) -> int:
    """``percept demo``: the simulator's scenarios through the full graph (see :mod:`replay.demo`)."""
    from replay.demo import run_demo

    return run_demo(Path(args.out), duration_s=args.duration, watch=not args.no_watch)


def register(registry: Any) -> None:
    """Add ``watch`` and ``demo`` to a :class:`percept.cli.CommandRegistry`."""
    w = registry.commands.add_parser("watch", help="tracks and events from a camera, video, folder or log")
    w.add_argument("source",
                   help="video file, image folder, rtsp:// or http:// URL, /dev/videoN or .mcap log")
    w.add_argument("--model", default=None, metavar="M",
                   help="detector model (default: the scene's, else the first model under PERCEPT_MODELS)")
    w.add_argument("--scene", default=None, metavar="YAML",
                   help="scene file with zones and rules, e.g. configs/scenes/ucsd-ped2.yaml "
                        "(default: no events)")
    w.add_argument("--out", default=None, metavar="DIR", help="output folder (default: out/watch/<name>/)")
    w.add_argument("--fps", type=float, default=None, metavar="HZ",
                   help="frame rate of an image folder (default: the scene's, else 10)")
    w.add_argument("--fast", action="store_true",
                   help="play files as fast as possible instead of at their real rate (default: real rate)")
    w.add_argument("--loop", action="store_true",
                   help="play a video file or folder over and over (default: once)")
    w.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                   help="stop after N frames (default: all)")
    w.add_argument("--duration", type=float, default=None, metavar="SEC",
                   help="stop after SEC seconds (default: at the end of the source or Ctrl-C)")
    w.add_argument("--serve", action="store_true", help="open the operator page (not available yet)")
    w.set_defaults(func=cmd_watch)

    d = registry.commands.add_parser("demo", help="the simulator's highway and plaza through the full graph")
    d.add_argument("--duration", type=float, default=60.0, metavar="SEC",
                   help="scenario time per scenario, seconds")
    d.add_argument("--out", default="out/demo", metavar="DIR", help="output folder")
    d.add_argument("--no-watch", action="store_true",
                   help="skip `percept watch` on the real clip even when the shared data are present")
    d.set_defaults(func=cmd_demo)
