"""Fusion tracker on KITTI PointRCNN detections: frames/s and the ego-motion check.

    python bench/track3d_fusion.py [--seqs 1,6,8,10,12] [--config configs/trackers/kitti-fusion3d.yaml]

Per sequence: the tracker's own time per frame (``FusionTracker.update_boxes`` only, all three
classes, reading and writing excluded) as frames/s, and the median ground-plane speed of the
reported Car tracks matched (world centre within 1 m) to static ground-truth cars: a labelled car
whose world position stays within 1 m over at least 10 frames (parked cars seen from the moving
ego). ``percept bench track3d`` calls :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from calib.kitti import KITTI_CAMERA_FRAME
from fusion.ego import EgoPoses
from fusion.fusion_config import load_fusion_config
from fusion.fusion_tracker import FusionTracker
from percept.data import data_path
from sensors.datasets.kitti_tracking import KittiTrackingSequence

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "trackers" / "kitti-fusion3d.yaml"


def static_cars(seq: KittiTrackingSequence, tree) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Per frame, world centres of ground-truth cars that never move more than 1 m (>= 10 frames)."""
    lab = seq.labels.select(seq.labels.class_id == 1)  # Car
    world = np.zeros((len(lab), 3))
    for f in np.unique(lab.frame).tolist():
        rows = lab.frame == f
        world[rows] = seq.world_from(KITTI_CAMERA_FRAME, f, tree).apply(lab.centre[rows].astype(np.float64))
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for tid in np.unique(lab.track_id).tolist():
        rows = np.flatnonzero(lab.track_id == tid)
        pts = world[rows]
        if len(rows) >= 10 and np.linalg.norm(pts - pts.mean(0), axis=1).max() < 1.0:
            for r in rows:
                out.setdefault(int(lab.frame[r]), []).append((tid, world[r]))
    return out


def run_sequence(config, root: Path, s: int) -> dict:
    """Frames/s and static-car speeds of one sequence."""
    seq = KittiTrackingSequence(root, s)
    tree = seq.frame_tree()
    ego = EgoPoses(config.fixed_frame, config.ego_frame, tree, config.max_extrapolation_s)
    for k in range(len(seq)):
        ego.add(seq.stamp_ns(k), seq.pose(k))
    tracker = FusionTracker(config, ego)
    static = static_cars(seq, tree)
    speeds, secs = [], 0.0
    for k in range(len(seq)):
        dets = seq.detections3d(k, seq.stamp_ns(k), k)
        t0 = time.perf_counter()
        tracks = tracker.update_boxes(dets, "kitti")
        secs += time.perf_counter() - t0
        cars = tracks.class_id == tracks.class_names.index("Car") if "Car" in tracks.class_names else []
        for _tid, centre in static.get(k, []):
            if not np.any(cars):
                break
            d = np.linalg.norm(tracks.state[cars, :3] - centre, axis=1)
            if d.min() < 1.0:
                speeds.append(float(np.linalg.norm(tracks.state[cars][d.argmin(), 7:9])))
    return {
        "sequence": f"{s:04d}",
        "frames": len(seq),
        "seconds": secs,
        "frames_per_s": len(seq) / secs,
        "static_matches": len(speeds),
        "static_median_speed_mps": float(np.median(speeds)) if speeds else None,
        "static_speeds": speeds,
    }


def run(seqs: list[int], config_path: str | Path = DEFAULT_CONFIG, root: Path | None = None) -> list[dict]:
    """One row per sequence plus an ``all`` row (frames/s over all frames, median over all speeds)."""
    config = load_fusion_config(config_path)
    root = root or data_path("kitti_tracking")
    rows = [run_sequence(config, root, s) for s in seqs]
    speeds = [v for r in rows for v in r.pop("static_speeds")]
    frames, secs = sum(r["frames"] for r in rows), sum(r["seconds"] for r in rows)
    rows.append(
        {
            "sequence": "all",
            "frames": frames,
            "seconds": secs,
            "frames_per_s": frames / secs,
            "static_matches": len(speeds),
            "static_median_speed_mps": float(np.median(speeds)) if speeds else None,
        }
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seqs", default="1,6,8,10,12")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    rows = run([int(s) for s in args.seqs.split(",")], args.config)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| seq | frames | frames/s | static car matches | median speed m/s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        med = r["static_median_speed_mps"]
        print(
            f"| {r['sequence']} | {r['frames']} | {r['frames_per_s']:,.0f} | {r['static_matches']} | "
            f"{'-' if med is None else f'{med:.2f}'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
