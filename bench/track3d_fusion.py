"""Fusion tracker on KITTI PointRCNN detections: frames/s and the ego-motion check.

    percept bench track3d [--seqs 0,1,...] [--config configs/trackers/kitti-fusion3d.yaml] [--json]
    python bench/track3d_fusion.py [same options]

Per sequence (:func:`fusion.kitti_track.track_sequence`, the code ``percept track3d`` runs): the
tracker's own time per frame (``FusionTracker.update_boxes`` only, all three classes; reading,
conversion and writing excluded) as frames/s, its ratio to AB3DMOT's frames/s here
(:data:`AB3DMOT_FPS`, its Car tracker on the same detections), and the median ground-plane speed
of the reported Car tracks matched (world centre within 1 m) to static ground-truth cars: a
labelled car whose world position stays within 1 m over at least 10 frames (parked cars seen
from the moving ego). Default sequences: every shared sequence with labels. ``percept bench
track3d`` calls :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.track3d_kitti import labelled_sequences
from calib.kitti import KITTI_CAMERA_FRAME
from fusion.fusion_config import load_fusion_config
from fusion.kitti_track import track_sequence
from percept.data import data_path
from percept.messages import Tracks
from sensors.datasets.kitti_tracking import KittiTrackingSequence

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "trackers" / "kitti-fusion3d.yaml"
#: AB3DMOT's frames/s on this machine (its Car tracker on the shared PointRCNN detections).
AB3DMOT_FPS = 41.0


def static_cars(seq: KittiTrackingSequence) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Per frame, world centres of ground-truth cars that never move more than 1 m (>= 10 frames)."""
    tree = seq.frame_tree()
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
    """Frames/s and static-car speeds (m/s) of one sequence."""
    seq = KittiTrackingSequence(root, s)
    static = static_cars(seq)
    speeds: list[float] = []

    def on_frame(k: int, tracks: Tracks) -> None:
        if "Car" not in tracks.class_names or not static.get(k):
            return
        cars = tracks.class_id == tracks.class_names.index("Car")
        if not cars.any():
            return
        centres, vel = tracks.state[cars, :3].astype(np.float64), tracks.state[cars, 7:9]
        for _tid, centre in static[k]:
            d = np.linalg.norm(centres - centre, axis=1)
            if d.min() < 1.0:
                speeds.append(float(np.linalg.norm(vel[d.argmin()])))

    result = track_sequence(config, seq, on_frame)
    return {
        "sequence": result.sequence,
        "frames": result.frames,
        "seconds": result.seconds,
        "frames_per_s": result.frames_per_s,
        "vs_ab3dmot": result.frames_per_s / AB3DMOT_FPS,
        "static_matches": len(speeds),
        "static_median_speed_mps": float(np.median(speeds)) if speeds else None,
        "static_speeds": speeds,
    }


def run(seqs: list[int] | None = None, config_path: str | Path | None = None,
        root: Path | None = None) -> list[dict]:
    """One row per sequence (default: every labelled one) plus an ``all`` row (frames/s over all
    frames, median over all speeds)."""
    config = load_fusion_config(config_path or DEFAULT_CONFIG)
    root = root or data_path("kitti_tracking")
    rows = [run_sequence(config, root, s) for s in (labelled_sequences(root) if seqs is None else seqs)]
    speeds = [v for r in rows for v in r.pop("static_speeds")]
    frames, secs = sum(r["frames"] for r in rows), sum(r["seconds"] for r in rows)
    rows.append(
        {
            "sequence": "all",
            "frames": frames,
            "seconds": secs,
            "frames_per_s": frames / secs,
            "vs_ab3dmot": frames / secs / AB3DMOT_FPS,
            "static_matches": len(speeds),
            "static_median_speed_mps": float(np.median(speeds)) if speeds else None,
        }
    )
    return rows


def format_rows(rows: list[dict]) -> list[str]:
    """A markdown table of :func:`run`'s rows."""
    out = ["| seq | frames | frames/s | vs AB3DMOT (41 fps) | static car matches | median speed m/s |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        med = r["static_median_speed_mps"]
        out.append(f"| {r['sequence']} | {r['frames']} | {r['frames_per_s']:,.0f} | x{r['vs_ab3dmot']:.1f} | "
                   f"{r['static_matches']} | {'-' if med is None else f'{med:.2f}'} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seqs", default=None, help="comma-separated sequences (default: all labelled)")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    seqs = None if args.seqs is None else [int(s) for s in args.seqs.split(",") if s.strip()]
    rows = run(seqs, args.config)
    print(json.dumps(rows, indent=2) if args.json else "\n".join(format_rows(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
