"""3D MOT accuracy and speed of percept's Tracker3D on the labelled KITTI tracking sequences.

    .venv/bin/python bench/track3d_kitti.py [--split val|train|all | --sequences 1 6 ...]
        [--graph configs/kitti-track3d.yaml] [--classes Car Pedestrian] [--gt-as-detections]
        [--out DIR] [--no-compat] [--json OUT]

Every selected sequence is played frame by frame: its PointRCNN detections (``Detections3D`` in
``calib.kitti.KITTI_CAMERA_FRAME``, stamped ``k * 100 ms``) go to a fresh ``Tracker3D`` configured as the
``tracker3d`` node of ``--graph`` -- one configuration for all sequences, nothing tuned per
sequence. The returned tracks are written as KITTI tracking results (``OUT/<Class>/<seq>.txt``,
:mod:`fusion.kitti_results`: 2D boxes projected with the sequence calibration, score = the track's
last detection score) and scored with :mod:`fusion.kitti_eval` -- the KITTI devkit's rules as
AB3DMOT applies them (3D IoU >= 0.25, DontCare regions, the 25 px rule, Van / Person_sitting
ignored for Car / Pedestrian, truncated or heavily occluded labels ignored, sAMOTA / AMOTA /
AMOTP over the score sweep, MOTA etc. at the best-MOTA threshold). The same folder can be scored
by ``percept eval kitti3d --gt ROOT --res OUT --seqs ...`` or any AB3DMOT-style evaluator.
``--gt-as-detections`` feeds the Pedestrian/Car/Cyclist labels instead (a sanity check).

Splits (AB3DMOT's, restricted to the 15 labelled sequences here): ``train`` = 0000 0002 0003 0004
0005 0007 0009 0011 0017 0020, ``val`` = 0001 0006 0008 0010 0012. The graph's only PointRCNN-specific
setting, ``new_track_thresh`` (the detector score that starts a track; PointRCNN emits logits), was
picked on ``train``; report ``val``. AB3DMOT's published validation figures (its paper, PointRCNN
detections, the same evaluation) are printed beside the pooled rows.

Timing covers ``Tracker3D.update`` only (not loading, conversion or writing): median and p99 ms per
frame over all frames, and the real-time factor against 10 Hz, ``100 ms / mean ms per frame``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calib.kitti import KITTI_CAMERA_FRAME
from fusion.kitti_eval import CLASSES, IOU_THRESHOLD, TOTAL, evaluate_folders, format_table, json_rows
from fusion.kitti_results import concat_boxes, sequence_image_size, tracks_to_results, write_results
from fusion.tracker3d import Tracker3D, Tracker3DConfig
from percept.data import data_path
from percept.messages import Detections3D
from sensors.datasets.kitti_tracking import DET_CLASSES, KittiTrackingSequence

FRAME_MS = 100.0  # KITTI frame period
SPLITS = {"train": [0, 2, 3, 4, 5, 7, 9, 11, 17, 20], "val": [1, 6, 8, 10, 12]}
GRAPH = Path(__file__).resolve().parent.parent / "configs" / "kitti-track3d.yaml"
#: AB3DMOT (Weng et al. 2020, IROS) on the KITTI validation split with PointRCNN: sAMOTA, MOTA (%).
AB3DMOT_VAL = {"Car": (93.34, 86.47), "Pedestrian": (82.73, 73.86), "Cyclist": (93.78, 84.79)}


def graph_tracker_config(path: Path) -> Tracker3DConfig:
    """The tracker settings of the (first) ``tracker3d`` node of graph file ``path``."""
    from percept.config import build
    from percept.graph import load_graph
    from percept.node import load_processor_class

    for k, node in enumerate(load_graph(path).nodes):
        if node.type == "tracker3d":  # the node's config class, found as the graph finds it
            config_class = load_processor_class(node.type).Config
            return build(config_class, node.config, f"{path}: nodes[{k}].config").tracker
    raise SystemExit(f"{path}: no node of type tracker3d")


def labelled_sequences(root: Path) -> list[int]:
    """Numbers of the sequences with a ``label_02/NNNN.txt`` file."""
    return sorted(int(p.stem) for p in (root / "label_02").glob("*.txt") if p.stem.isdigit())


def gt_detections(seq: KittiTrackingSequence, k: int, stamp: int) -> Detections3D:
    """The Pedestrian/Car/Cyclist labels of frame ``k`` as detections of score 1."""
    g = seq.frame_labels(k)
    g = g.select(g.class_id < len(DET_CLASSES))  # GT ids 0..2 are the detector's classes
    return Detections3D(stamp_ns=stamp, frame_id=KITTI_CAMERA_FRAME, seq=k, centre=g.centre, size=g.size_lwh,
                        yaw=g.rot_y, class_id=g.class_id, confidence=np.ones(len(g), np.float32),
                        class_names=DET_CLASSES)


def run_sequence(seq: KittiTrackingSequence, config: Tracker3DConfig, use_gt: bool, out: Path,
                 classes: list[str]) -> list[float]:
    """Track one sequence, write its result files under ``out``; the update times in ms."""
    tracker = Tracker3D(config)
    calib = seq.calibration()
    size = sequence_image_size(seq.root, f"{seq.sequence:04d}")
    rows, ms = [], []
    for k in range(len(seq)):
        stamp = seq.stamp_ns(k)
        dets = gt_detections(seq, k, stamp) if use_gt else seq.detections3d(k, stamp, k)
        t0 = time.perf_counter_ns()
        tracks = tracker.update(dets)
        ms.append((time.perf_counter_ns() - t0) / 1e6)
        rows.append(tracks_to_results(tracks, k, calib, size))
    write_results(out, f"{seq.sequence:04d}", concat_boxes(rows), classes)
    return ms


def _published(cls: str) -> str:
    if cls not in AB3DMOT_VAL:
        return ""
    return f"AB3DMOT (published, val): sAMOTA {AB3DMOT_VAL[cls][0]:.2f}, MOTA {AB3DMOT_VAL[cls][1]:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=[*SPLITS, "all"], default="val", help="sequence split (default val)")
    p.add_argument("--sequences", type=int, nargs="+", help="sequence numbers (instead of --split)")
    p.add_argument("--graph", type=Path, default=GRAPH, help="graph whose tracker3d settings to use")
    p.add_argument("--classes", nargs="+", default=list(CLASSES), choices=CLASSES)
    p.add_argument("--iou", type=float, default=IOU_THRESHOLD, help="3D IoU threshold of a match")
    p.add_argument("--gt-as-detections", action="store_true", help="feed the labels instead of PointRCNN")
    p.add_argument("--out", type=Path, help="result folder (default: a new temporary folder)")
    p.add_argument("--no-compat", action="store_true", help="drop evaluate.py's numerical habits")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write rows and timing to OUT")
    args = p.parse_args(argv)

    root = data_path("kitti_tracking")
    available = labelled_sequences(root)
    chosen = args.sequences or (available if args.split == "all" else SPLITS[args.split])
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        p.error(f"sequences {unknown} have no labels; labelled: {available}")
    config = graph_tracker_config(args.graph)
    if args.gt_as_detections:  # labels have score 1: every one may start a track
        config = dataclasses.replace(config, new_track_thresh=-float("inf"))
    out = args.out or Path(tempfile.mkdtemp(prefix="track3d-kitti-"))
    times = []
    for s in chosen:
        ms = run_sequence(KittiTrackingSequence(root, s), config, args.gt_as_detections, out, args.classes)
        times += ms
        print(f"sequence {s:04d}: {len(ms)} frames, {np.mean(ms):.2f} ms/frame", file=sys.stderr)
    seqs = [f"{s:04d}" for s in chosen]
    t0 = time.perf_counter()
    results = evaluate_folders(root, out, seqs, args.classes, args.iou, not args.no_compat, per_sequence=True)
    eval_s = time.perf_counter() - t0
    t = np.asarray(times)
    timing = {"frames": len(t), "median_ms": float(np.median(t)), "p99_ms": float(np.percentile(t, 99)),
              "mean_ms": float(t.mean()), "realtime_factor_10hz": FRAME_MS / float(t.mean()),
              "evaluation_s": eval_s}

    source = "ground truth as detections" if args.gt_as_detections else "PointRCNN detections"
    print(f"## KITTI tracking 3D MOT: Tracker3D ({args.graph.name}) on {source}\n")
    print(f"{len(chosen)} sequences; results in {out}; KITTI devkit rules as AB3DMOT applies them, "
          f"3D IoU >= {args.iou}{'' if not args.no_compat else ', without evaluate.py compatibility'}.\n")
    for cls in args.classes:
        print(f"### {cls}\n\n{format_table([r for r in results if r.cls == cls])}\n")
    print("### Totals\n\n" + format_table([r for r in results if r.sequence == TOTAL]) + "\n")
    for r in results:
        if r.sequence == TOTAL and math.isfinite(r.sAMOTA):
            print(f"{r.cls}: sAMOTA {100 * r.sAMOTA:.2f}, MOTA {100 * r.MOTA:.2f}, IDF1 {100 * r.IDF1:.2f}, "
                  f"IDSW {r.IDSW}; {_published(r.cls)}")
    print(f"\nTracker3D.update time per frame over {timing['frames']} frames: "
          f"median {timing['median_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms, "
          f"mean {timing['mean_ms']:.2f} ms; real-time factor at 10 Hz "
          f"x{timing['realtime_factor_10hz']:.0f}; evaluation {eval_s:.1f} s")
    if args.json:
        payload = {"source": source, "iou_threshold": args.iou, "sequences": chosen, "results": str(out),
                   "compat": not args.no_compat, "config": dataclasses.asdict(config),
                   "rows": json_rows(results), "timing": timing,
                   "ab3dmot_published_val": AB3DMOT_VAL}
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
