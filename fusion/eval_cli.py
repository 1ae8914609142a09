"""``percept eval mot`` and ``percept bench track2d`` (added through :func:`register`).

    percept eval mot --gt GT.txt --res RES.txt [--gt GT2.txt --res RES2.txt ...] [--json]
    percept bench track2d [--json] [--runs N] [--sequences DIR ...] [--trackers NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fusion.errors import TrackingError


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_eval_kitti3d(args: argparse.Namespace) -> int:
    """``percept eval kitti3d --gt ROOT --res DIR --seqs 0001,0006 [--json]``: per-class sAMOTA, AMOTA,
    AMOTP, MOTA, MOTP, IDF1, IDSW, FP, FN of KITTI tracking results (the devkit as AB3DMOT applies it)."""
    from fusion.kitti_eval import IOU_THRESHOLD, evaluate_folders, format_table, json_rows

    seqs = [f"{int(s):04d}" if s.strip().isdigit() else s.strip() for s in args.seqs.split(",") if s.strip()]
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    iou = IOU_THRESHOLD if args.iou is None else args.iou
    results = evaluate_folders(args.gt, args.res, seqs, classes, iou, not args.no_compat, args.per_seq)
    _out(json.dumps(json_rows(results)) if args.json else format_table(results))
    return 0


def _add_eval_kitti3d(esub: Any) -> None:
    k = esub.add_parser("kitti3d", help="KITTI 3D MOT: sAMOTA, AMOTA, MOTA, IDF1 (devkit rules as AB3DMOT)")
    k.add_argument("--gt", required=True, help="KITTI tracking root with label_02/ (or the label folder)")
    k.add_argument("--res", required=True, help="result folder: RES/<Class>/<seq>.txt (or RES/<seq>.txt)")
    k.add_argument("--seqs", required=True, help="comma-separated sequences, e.g. 0001,0006")
    k.add_argument("--classes", default=None, help="comma-separated, default: those with results")
    k.add_argument("--iou", type=float, default=None, help="3D IoU threshold of a match (default 0.25)")
    k.add_argument("--per-seq", action="store_true", help="also score every sequence on its own")
    k.add_argument("--no-compat", action="store_true", help="drop evaluate.py's two numerical habits")
    k.add_argument("--json", action="store_true", help="print the metrics as JSON (ratios in [0, 1])")
    k.set_defaults(func=cmd_eval_kitti3d)


def cmd_eval_mot(args: argparse.Namespace) -> int:
    """Print IDF1/MOTA/HOTA/IDSW/FP/FN per (gt, res) pair and combined."""
    from fusion.mot_eval import evaluate_many, format_table

    if len(args.gt) != len(args.res):
        raise TrackingError(f"give one --res per --gt: got {len(args.gt)} --gt and {len(args.res)} --res")
    results = evaluate_many(list(zip(args.gt, args.res, strict=True)))
    if args.json:
        _out(json.dumps([r.as_dict() for r in results]))
    else:
        _out(format_table(results))
    return 0


def cmd_bench_track2d(args: argparse.Namespace) -> int:
    """Print tracker-only frames/s per tracker and sequence, and overall ratios to ByteTrack."""
    from fusion import bench

    rows = bench.run(args.sequences, trackers=args.trackers, runs=args.runs,
                     progress=None if args.json else _out)
    if args.json:
        _out(json.dumps([r.as_dict() for r in rows]))
        return 0
    _out(f"{'tracker':10s} {'sequence':16s} {'frames':>6s} {'fps':>10s}")
    for r in rows:
        _out(f"{r.tracker:10s} {r.sequence:16s} {r.frames:6d} {r.fps:10.1f}")
    tot = bench.totals(rows)
    for name, fps in tot.items():
        ratio = f"  (x{fps / tot['bytetrack']:.2f} of bytetrack)" if "bytetrack" in tot else ""
        _out(f"{name:10s} {'ALL':16s} {'':6s} {fps:10.1f}{ratio}")
    return 0


def register(registry: Any) -> None:
    """Add ``eval mot`` and ``bench track2d`` to the ``percept`` CLI (see ``percept.cli``)."""
    from fusion.bench import TRACKERS

    e = registry.commands.add_parser("eval", help="evaluate results against ground truth")
    esub = e.add_subparsers(dest="eval", required=True)
    _add_eval_kitti3d(esub)
    m = esub.add_parser("mot", help="MOTChallenge metrics: IDF1, MOTA, HOTA, ID switches, FP, FN")
    m.add_argument("--gt", action="append", required=True, help="MOT ground-truth file (repeatable)")
    m.add_argument("--res", action="append", required=True, help="MOT result file, one per --gt")
    m.add_argument("--json", action="store_true", help="print the metrics as JSON")
    m.set_defaults(func=cmd_eval_mot)

    b = registry.bench.add_parser("track2d", help="2D tracker frames/s vs boxmot ByteTrack, OC-SORT, SORT")
    b.add_argument("--json", action="store_true", help="print rows as JSON")
    b.add_argument("--runs", type=int, default=5, help="passes over all sequences (median)")
    b.add_argument("--sequences", nargs="+", default=None, metavar="DIR",
                   help="MOT sequence folders (default: all shared mot15 sequences)")
    b.add_argument("--trackers", nargs="+", default=list(TRACKERS), choices=TRACKERS)
    b.set_defaults(func=cmd_bench_track2d)
