"""``percept eval mot`` (added through :func:`register`).

    percept eval mot --gt GT.txt --res RES.txt [--gt GT2.txt --res RES2.txt ...] [--json]

(``percept bench track2d`` lives with the benchmarks: :mod:`bench.cli`.)
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


def register(registry: Any) -> None:
    """Add ``eval mot`` to the ``percept`` CLI (see ``percept.cli``)."""
    e = registry.commands.add_parser("eval", help="evaluate results against ground truth")
    esub = e.add_subparsers(dest="eval", required=True)
    m = esub.add_parser("mot", help="MOTChallenge metrics: IDF1, MOTA, HOTA, ID switches, FP, FN")
    m.add_argument("--gt", action="append", required=True, help="MOT ground-truth file (repeatable)")
    m.add_argument("--res", action="append", required=True, help="MOT result file, one per --gt")
    m.add_argument("--json", action="store_true", help="print the metrics as JSON")
    m.set_defaults(func=cmd_eval_mot)
