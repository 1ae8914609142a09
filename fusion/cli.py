"""``percept track2d``: track a MOTChallenge detection file with the default 2D tracker.

    percept track2d --mot-det DET.txt [--seqinfo seqinfo.ini] --out RES.txt

Writes the CONFIRMED tracks as MOT results ``frame,id,x,y,w,h,conf,-1,-1,-1``. With a seqinfo,
frames 1..seqLength are tracked; detections of later frames are dropped and counted in the summary.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cmd_track2d(args: argparse.Namespace) -> int:
    """Handler of ``percept track2d``; returns the exit code."""
    from fusion.mot import track_mot_file, write_mot_results

    run = track_mot_file(args.mot_det, args.seqinfo)
    write_mot_results(args.out, run.results)
    n_rows = sum(len(d) for d in run.results.values())
    n_ids = len({int(i) for d in run.results.values() if d.track_id is not None for i in d.track_id})
    log.info("track2d: %d frames at %g fps, %d boxes, %d tracks, %d detections beyond seqLength "
             "dropped -> %s", run.frames, run.frame_rate, n_rows, n_ids, run.dropped, args.out)
    return 0


def register(registry: Any) -> None:
    """Add ``track2d`` to a :class:`percept.cli.CommandRegistry`."""
    p = registry.commands.add_parser("track2d", help="track a MOT det.txt with the 2D tracker")
    p.add_argument("--mot-det", required=True, type=Path, metavar="DET.txt", help="MOT detections det.txt")
    p.add_argument("--seqinfo", type=Path, default=None, metavar="INI",
                   help="seqinfo.ini: frame rate and length (without it: 25 fps, frames up to the last "
                        "detection)")
    p.add_argument("--out", required=True, type=Path, metavar="RES.txt", help="MOT results file to write")
    p.set_defaults(func=cmd_track2d)
