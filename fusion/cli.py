"""``percept track2d`` and ``percept track3d``: run the trackers over dataset detection files.

    percept track2d --det DET.txt|DETS.jsonl [--det-format auto|mot|jsonl] [--classes NAME ...]
                    [--seqinfo seqinfo.ini] --out RES.txt
    percept track3d --kitti-det DIR --calib DIR --oxts DIR --seqs 0001,0006 --out DIR
        [--config configs/trackers/kitti-fusion3d.yaml] [--frame-scores]

track2d's detections are a MOTChallenge ``det.txt`` or the JSONL ``percept detect`` writes (``--det`` is
also spelled ``--mot-det``; ``--det-format auto`` tells them apart by suffix, then by content).

``track2d`` writes the CONFIRMED tracks as MOT results ``frame,id,x,y,w,h,conf,-1,-1,-1``. With a
seqinfo, frames 1..seqLength are tracked; detections of later frames are dropped and counted in
the summary.

``track3d`` runs the fusion tracker (:mod:`fusion.kitti_track`) with the sequences' oxts ego
motion on PointRCNN detections (``DIR/<Class>/<seq>.txt``) and writes KITTI tracking results
``OUT/<Class>/<seq>.txt`` (camera frame, 2D box = the projected 3D box clipped to the image,
score = the track's mean confidence; ``--frame-scores``: each frame's own). Bad input is one line
``percept: error: ...`` and exit status 2. Progress is shown with rich when it is installed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from percept.errors import PerceptError

log = logging.getLogger(__name__)
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "trackers" / "kitti-fusion3d.yaml"


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


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    """A per-sequence progress callback: a rich progress bar on a terminal, else log lines."""
    try:
        from rich import progress
    except ImportError:  # rich is optional
        progress = None
    if progress is None or not sys.stderr.isatty():
        yield lambda text: log.info("track3d: %s", text)
        return
    with progress.Progress(transient=True) as bar:
        task = bar.add_task("track3d", total=total)
        yield lambda text: bar.update(task, advance=1, description=f"track3d {text}")


def cmd_track3d(args: argparse.Namespace) -> int:
    """Handler of ``percept track3d``; returns the exit code (2 on bad input, one line on stderr)."""
    from fusion.fusion_config import load_fusion_config
    from fusion.kitti_track import parse_sequences, track_folders

    try:
        config = load_fusion_config(args.config)
        seqs = parse_sequences(args.seqs)
        with _progress(len(seqs)) as report:
            runs = track_folders(config, args.kitti_det, args.calib, args.oxts, seqs, args.out,
                                 lambda r: report(f"{r.sequence}: {r.frames} frames, {len(r.results)} boxes, "
                                                  f"{r.frames_per_s:,.0f} frames/s"),
                                 track_scores=not args.frame_scores)
    except (PerceptError, OSError) as exc:
        sys.stderr.write(f"percept: error: {exc}\n")
        return 2
    frames, secs = sum(r.frames for r in runs), sum(r.seconds for r in runs)
    log.info("track3d: %d sequences, %d frames, %d boxes, tracker %.0f frames/s -> %s", len(runs), frames,
             sum(len(r.results) for r in runs), frames / secs if secs > 0 else float("inf"), args.out)
    return 0


def register(registry: Any) -> None:
    """Add ``track2d`` and ``track3d`` to a :class:`percept.cli.CommandRegistry`."""
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

    t = registry.commands.add_parser("track3d", help="KITTI 3D MOT with the fusion tracker and ego motion")
    t.add_argument("--kitti-det", required=True, type=Path,
                   help="detections DIR/<Class>/<seq>.txt (PointRCNN layout)")
    t.add_argument("--calib", required=True, type=Path, help="KITTI tracking calib folder (<seq>.txt)")
    t.add_argument("--oxts", required=True, type=Path, help="KITTI tracking oxts folder (<seq>.txt)")
    t.add_argument("--seqs", required=True, help="comma-separated sequences, e.g. 0001,0006")
    t.add_argument("--out", required=True, type=Path, help="result folder: OUT/<Class>/<seq>.txt")
    t.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="fusion tracker YAML")
    t.add_argument("--frame-scores", action="store_true",
                   help="write each frame's track confidence instead of the track's mean")
    t.set_defaults(func=cmd_track3d)
