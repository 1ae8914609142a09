"""``percept track2d``: track a detection file with the default 2D tracker.

    percept track2d --det DET.txt|DETS.jsonl [--det-format auto|mot|jsonl] [--classes NAME ...]
                    [--seqinfo seqinfo.ini] --out RES.txt

The detections are a MOTChallenge ``det.txt`` or the JSONL ``percept detect`` writes (``--det`` is
also spelled ``--mot-det``; ``--det-format auto`` tells them apart by suffix, then by content).

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

    run = track_mot_file(args.mot_det, args.seqinfo, det_format=args.det_format,
                         classes=set(args.classes) if args.classes else None)
    write_mot_results(args.out, run.results)
    n_rows = sum(len(d) for d in run.results.values())
    n_ids = len({int(i) for d in run.results.values() if d.track_id is not None for i in d.track_id})
    log.info("track2d: %d frames at %g fps, %d boxes, %d tracks, %d detections beyond seqLength "
             "dropped -> %s", run.frames, run.frame_rate, n_rows, n_ids, run.dropped, args.out)
    return 0


def register(registry: Any) -> None:
    """Add ``track2d`` to a :class:`percept.cli.CommandRegistry`."""
    p = registry.commands.add_parser("track2d", help="track a MOT det.txt or percept detect JSONL")
    p.add_argument("--mot-det", "--det", required=True, type=Path, metavar="DET",
                   help="detections: MOT det.txt or the JSONL of percept detect")
    p.add_argument("--det-format", default="auto", choices=["auto", "mot", "jsonl"],
                   help="format of the detections (auto: by suffix, then content)")
    p.add_argument("--classes", nargs="+", default=None, metavar="NAME",
                   help="JSONL only: track only these class names or ids (default: every class)")
    p.add_argument("--seqinfo", type=Path, default=None, metavar="INI",
                   help="seqinfo.ini: frame rate and length (without it: 25 fps, frames up to the last "
                        "detection)")
    p.add_argument("--out", required=True, type=Path, metavar="RES.txt", help="MOT results file to write")
    p.set_defaults(func=cmd_track2d)
