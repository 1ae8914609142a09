"""3D MOT accuracy and speed of percept's Tracker3D on the labelled KITTI tracking sequences.

    .venv/bin/python bench/track3d_kitti.py [--split val|train|all | --sequences 1 6 ...]
        [--graph configs/kitti-track3d.yaml] [--classes Car Pedestrian] [--gt-as-detections] [--json OUT]

Every selected sequence is played frame by frame: its PointRCNN detections (``Detections3D`` in
``calib.kitti.KITTI_CAMERA_FRAME``, stamped ``k * 100 ms``) go to a fresh ``Tracker3D`` configured as the
``tracker3d`` node of ``--graph`` -- one configuration for all sequences, nothing tuned per
sequence -- and the returned tracks are scored
against the labels with :mod:`fusion.kitti_eval` (3D IoU >= 0.25, Van / Person_sitting ignored
for Car / Pedestrian; no DontCare regions, no 2D height filter). ``--gt-as-detections`` feeds
the Pedestrian/Car/Cyclist labels instead (a sanity check of the tracker and the evaluation).

Splits (AB3DMOT's, restricted to the 15 labelled sequences here): ``train`` = 0000 0002 0003 0004
0005 0007 0009 0011 0017 0020, ``val`` = 0001 0006 0008 0010 0012. The graph's only PointRCNN-specific
setting, ``new_track_thresh`` (the detector score that starts a track; PointRCNN emits logits), was
picked on ``train`` (the best mean HOTA of the three classes among -inf, 0, 1, ..., 5); report ``val``.

Timing covers ``Tracker3D.update`` only (not loading or conversion): median and p99 ms per frame
over all frames, and the real-time factor against 10 Hz, ``100 ms / mean ms per frame``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from calib.kitti import KITTI_CAMERA_FRAME
from fusion.kitti_eval import CLASSES, IOU_THRESHOLD, TOTAL, FrameObjects, evaluate_sequences, format_table
from fusion.kitti_eval import objects_from_tracks as to_objects
from fusion.tracker3d import Tracker3D, Tracker3DConfig
from percept.data import data_path
from percept.messages import Detections3D
from sensors.datasets.kitti_tracking import DET_CLASSES, KittiTrackingSequence

FRAME_MS = 100.0  # KITTI frame period
SPLITS = {"train": [0, 2, 3, 4, 5, 7, 9, 11, 17, 20], "val": [1, 6, 8, 10, 12]}
GRAPH = Path(__file__).resolve().parent.parent / "configs" / "kitti-track3d.yaml"


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


Frames = dict[int, FrameObjects]


def run_sequence(seq: KittiTrackingSequence, config: Tracker3DConfig, use_gt: bool,
                 max_truncation: float | None, max_occlusion: float | None
                 ) -> tuple[Frames, Frames, list[float]]:
    """Track one sequence: (ground truth, hypotheses) per frame and the update times in ms."""
    tracker = Tracker3D(config)
    gt, hyp, ms = {}, {}, []
    for k in range(len(seq)):
        stamp = seq.stamp_ns(k)
        dets = gt_detections(seq, k, stamp) if use_gt else seq.detections3d(k, stamp, k)
        t0 = time.perf_counter_ns()
        tracks = tracker.update(dets)
        ms.append((time.perf_counter_ns() - t0) / 1e6)
        hyp[k] = to_objects(tracks)
        gt[k] = to_objects(seq.gt_tracks(k, stamp, k), max_truncation, max_occlusion)
    return gt, hyp, ms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=[*SPLITS, "all"], default="val", help="sequence split (default val)")
    p.add_argument("--sequences", type=int, nargs="+", help="sequence numbers (instead of --split)")
    p.add_argument("--graph", type=Path, default=GRAPH, help="graph whose tracker3d settings to use")
    p.add_argument("--classes", nargs="+", default=list(CLASSES), choices=CLASSES)
    p.add_argument("--iou", type=float, default=IOU_THRESHOLD, help="3D IoU threshold of a match")
    p.add_argument("--gt-as-detections", action="store_true", help="feed the labels instead of PointRCNN")
    p.add_argument("--max-truncation", type=float, default=None,
                   help="ignore GT truncated above this (KITTI devkit: 0); default: count all")
    p.add_argument("--max-occlusion", type=float, default=None,
                   help="ignore GT occluded above this (KITTI devkit: 2); default: count all")
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
    sequences, times = {}, []
    for s in chosen:
        gt, hyp, ms = run_sequence(KittiTrackingSequence(root, s), config, args.gt_as_detections,
                                   args.max_truncation, args.max_occlusion)
        sequences[f"{s:04d}"] = (gt, hyp)
        times += ms
        print(f"sequence {s:04d}: {len(ms)} frames, {np.mean(ms):.2f} ms/frame", file=sys.stderr)
    results = evaluate_sequences(sequences, classes=args.classes, iou_threshold=args.iou)
    t = np.asarray(times)
    timing = {"frames": len(t), "median_ms": float(np.median(t)), "p99_ms": float(np.percentile(t, 99)),
              "mean_ms": float(t.mean()), "realtime_factor_10hz": FRAME_MS / float(t.mean())}

    source = "ground truth as detections" if args.gt_as_detections else "PointRCNN detections"
    print(f"## KITTI tracking 3D MOT: Tracker3D ({args.graph.name}) on {source}\n")
    print(f"3D IoU >= {args.iou}; {len(chosen)} sequences; Van ignored for Car, Person_sitting for "
          f"Pedestrian; GT truncation limit {args.max_truncation}, occlusion limit {args.max_occlusion}.\n")
    for cls in args.classes:
        print(f"### {cls}\n\n{format_table([r for r in results if r.cls == cls])}\n")
    print("### Totals\n\n" + format_table([r for r in results if r.sequence == TOTAL]) + "\n")
    print(f"Tracker3D.update time per frame over {timing['frames']} frames: "
          f"median {timing['median_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms, "
          f"mean {timing['mean_ms']:.2f} ms; real-time factor at 10 Hz "
          f"x{timing['realtime_factor_10hz']:.0f}")
    if args.json:
        payload = {"source": source, "iou_threshold": args.iou, "sequences": chosen,
                   "max_truncation": args.max_truncation, "max_occlusion": args.max_occlusion,
                   "config": dataclasses.asdict(config), "rows": [r.as_dict() for r in results],
                   "timing": timing}
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
