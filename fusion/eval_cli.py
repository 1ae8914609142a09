"""``percept eval mot|kitti3d`` (added through :func:`register`).

    percept eval mot --gt GT.txt --res RES.txt [--gt GT2.txt --res RES2.txt ...] [--json]
    percept eval kitti3d --gt ROOT --res DIR --seqs 0001,0006 [--json]

On a terminal a progress bar shows the sequences (and classes) evaluated, on stderr.
(``percept bench track2d`` lives with the benchmarks: :mod:`bench.cli`.)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fusion.errors import TrackingError
from percept import cliutil
from percept.cliutil import out as _out


def cmd_eval_kitti3d(args: argparse.Namespace) -> int:
    """``percept eval kitti3d --gt ROOT --res DIR --seqs 0001,0006 [--json]``: per-class sAMOTA, AMOTA,
    AMOTP, MOTA, MOTP, IDF1, IDSW, FP, FN of KITTI tracking results (the devkit as AB3DMOT applies it)."""
    from fusion.kitti_eval import IOU_THRESHOLD, evaluate_folders, format_table, json_rows

    seqs = [f"{int(s):04d}" if s.strip().isdigit() else s.strip() for s in args.seqs.split(",") if s.strip()]
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    iou = IOU_THRESHOLD if args.iou is None else args.iou
    with cliutil.progress("eval kitti3d", unit="rows") as progress:
        results = evaluate_folders(args.gt, args.res, seqs, classes, iou, not args.no_compat, args.per_seq,
                                   progress)
    _out(json.dumps(json_rows(results)) if args.json else format_table(results))
    return 0


def _add_eval_kitti3d(esub: Any) -> None:
    k = esub.add_parser("kitti3d", help="KITTI 3D MOT: sAMOTA, AMOTA, MOTA, IDF1 (devkit rules as AB3DMOT)")
    k.add_argument("--gt", required=True, metavar="DIR",
                   help="KITTI tracking root with label_02/ (or the label folder)")
    k.add_argument("--res", required=True, metavar="DIR",
                   help="result folder: RES/<Class>/<seq>.txt (or RES/<seq>.txt)")
    k.add_argument("--seqs", required=True, help="comma-separated sequences, e.g. 0001,0006")
    k.add_argument("--classes", default=None,
                   help="comma-separated classes (default: those with result files)")
    k.add_argument("--iou", type=float, default=None, help="3D IoU threshold of a match (default: 0.25)")
    k.add_argument("--per-seq", action="store_true", help="also score every sequence on its own")
    k.add_argument("--no-compat", action="store_true", help="drop evaluate.py's two numerical habits")
    k.add_argument("--json", action="store_true", help="print the metrics as JSON (ratios in [0, 1])")
    k.set_defaults(func=cmd_eval_kitti3d)


def cmd_eval_mot(args: argparse.Namespace) -> int:
    """Print IDF1/MOTA/HOTA/IDSW/FP/FN per (gt, res) pair and combined."""
    from fusion.mot_eval import evaluate_many, format_table

    if len(args.gt) != len(args.res):
        raise TrackingError(f"give one --res per --gt: got {len(args.gt)} --gt and {len(args.res)} --res")
    with cliutil.progress("eval mot", 2 * len(args.gt), unit="steps") as progress:
        results = evaluate_many(list(zip(args.gt, args.res, strict=True)), progress=progress)
    if args.json:
        _out(json.dumps([r.as_dict() for r in results]))
    else:
        _out(format_table(results))
    return 0


def register(registry: Any) -> None:
    """Add ``eval mot`` to the ``percept`` CLI (see ``percept.cli``)."""
    e = registry.commands.add_parser("eval", help="evaluate results against ground truth")
    esub = cliutil.add_commands(e, "eval")
    _add_eval_kitti3d(esub)
    m = esub.add_parser("mot", help="MOTChallenge metrics: IDF1, MOTA, HOTA, ID switches, FP, FN")
    m.add_argument("--gt", action="append", required=True, metavar="FILE",
                   help="MOT ground-truth file (repeatable)")
    m.add_argument("--res", action="append", required=True, metavar="FILE",
                   help="MOT result file, one per --gt")
    m.add_argument("--json", action="store_true", help="print the metrics as JSON")
    m.set_defaults(func=cmd_eval_mot)
