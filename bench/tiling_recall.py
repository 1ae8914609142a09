"""Recall of YOLOX-nano on KITTI frames, full frame versus tiled inference (``tiles="auto"``).

    python bench/tiling_recall.py [--conf 0.25] [--tiles auto] [--json OUT]

Ground truth: the labelled Car and Pedestrian boxes taller than 40 px of the shared KITTI samples
(``kitti_object/training`` and the sparse frames of ``kitti_tracking`` sequence 0001). COCO car, bus
and truck count as Car, person as Pedestrian; a label is found when a detection of a matching class
overlaps it with IoU >= 0.5 (greedy one-to-one matching, detections in descending confidence).
Prints the Markdown table that the README shows. Needs the shared data (``PERCEPT_DATA``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.tables import markdown_table
from percept.boxes import box_iou

#: KITTI label type -> the COCO class ids that count as finding it.
COCO_IDS = {"Car": (2, 5, 7), "Pedestrian": (0,)}
MIN_HEIGHT_PX = 40.0
MATCH_IOU = 0.5
MODEL = "yolox_nano_coco_416.onnx"


@dataclass(frozen=True)
class Frame:
    """One labelled image: ``boxes`` float (N, 4) x1 y1 x2 y2 in image pixels, ``types`` N names."""

    image: Path
    boxes: np.ndarray
    types: tuple[str, ...]


def _keep(kind: str, box: list[float]) -> bool:
    return kind in COCO_IDS and box[3] - box[1] > MIN_HEIGHT_PX


def _frame(image: Path, rows: list[tuple[str, list[float]]]) -> Frame:
    rows = [(k, b) for k, b in rows if _keep(k, b)]
    boxes = np.array([b for _, b in rows], np.float32).reshape(-1, 4)
    return Frame(image, boxes, tuple(k for k, _ in rows))


def load_frames(data_root: Path) -> list[Frame]:
    """The labelled frames under ``data_root`` (the shared data folder), in a fixed order."""
    frames = []
    obj = data_root / "kitti_object" / "training"
    for img in sorted((obj / "image_2").glob("*.png")):
        rows = []
        for line in (obj / "label_2" / f"{img.stem}.txt").read_text().splitlines():
            f = line.split()
            if f:
                rows.append((f[0], [float(v) for v in f[4:8]]))
        frames.append(_frame(img, rows))
    trk = data_root / "kitti_tracking"
    by_frame: dict[int, list[tuple[str, list[float]]]] = {}
    for line in (trk / "label_02" / "0001.txt").read_text().splitlines():
        f = line.split()
        if f:
            by_frame.setdefault(int(f[0]), []).append((f[2], [float(v) for v in f[6:10]]))
    for img in sorted((trk / "image_02_sparse" / "0001").glob("*.png")):
        frames.append(_frame(img, by_frame.get(int(img.stem), [])))
    return frames


def count_found(frame: Frame, xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray) -> int:
    """Labels of ``frame`` matched one-to-one by detections (image px) with a matching class."""
    taken = np.zeros(len(frame.boxes), bool)
    for d in np.argsort(-confidence, kind="stable"):
        ok = np.array([int(class_id[d]) in COCO_IDS[t] for t in frame.types], bool) & ~taken
        if not ok.any():
            continue
        iou = np.where(ok, box_iou(xyxy[d], frame.boxes)[0], -1.0)
        best = int(np.argmax(iou))
        if iou[best] >= MATCH_IOU:
            taken[best] = True
    return int(taken.sum())


def evaluate(frames: list[Frame], model: Path, tiles: str, conf: float) -> dict:
    """Recall and mean latency of a detector with ``tiles`` over ``frames``."""
    import cv2

    from perception.config import DetectorConfig
    from perception.detector import Detector
    from perception.tiling import tile_grid

    det = Detector(DetectorConfig(model=str(model), tiles=tiles, conf=conf))
    try:
        images = [cv2.imread(str(f.image), cv2.IMREAD_COLOR) for f in frames]
        det.detect(images[:1])  # warm-up
        found, ms, crops = 0, [], []
        for frame, img in zip(frames, images, strict=True):
            t0 = time.perf_counter()
            (d,) = det.detect([img])
            ms.append((time.perf_counter() - t0) * 1e3)
            found += count_found(frame, d.xyxy, d.confidence, d.class_id)
            h, w = img.shape[:2]
            n = len(tile_grid(w, h, tiles, det.info.input_size, det.config.tile_overlap))
            crops.append(n + (n > 1))
    finally:
        det.close()
    labels = sum(len(f.boxes) for f in frames)
    return {"tiles": tiles, "conf": conf, "frames": len(frames), "labels": labels, "found": found,
            "recall": found / labels if labels else float("nan"), "crops_per_frame": float(np.mean(crops)),
            "ms_per_frame": float(np.median(ms))}


def table(rows: list[dict]) -> str:
    """Markdown table of :func:`evaluate` rows."""
    header = ["inference", "crops / frame", "found / labels", "recall", "median ms / frame (CPU)"]
    cells = (["full frame" if r["tiles"] == "none" else f"tiles={r['tiles']} + full frame",
              f"{r['crops_per_frame']:.0f}", f"{r['found']} / {r['labels']}", f"{r['recall']:.2f}",
              f"{r['ms_per_frame']:.0f}"] for r in rows)
    return markdown_table(header, cells)


def main() -> int:
    from percept.data import data_dir, model_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conf", type=float, default=0.25, help="detector confidence threshold")
    ap.add_argument("--tiles", default="auto", help="tiles spec of the tiled row (auto or NxM)")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    frames = load_frames(data_dir())
    model = model_path(MODEL)
    rows = [evaluate(frames, model, "none", args.conf), evaluate(frames, model, args.tiles, args.conf)]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"YOLOX-nano 416, conf {args.conf}, KITTI Car/Pedestrian > {MIN_HEIGHT_PX:.0f} px, IoU >= "
          f"{MATCH_IOU}; {len(frames)} frames; {platform.machine()}, Python {platform.python_version()}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
