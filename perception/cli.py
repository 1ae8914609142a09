"""``percept`` commands of the perception package (entry point ``perception.cli:register``).

    percept detect --model M --source IMAGE|DIR|VIDEO --out dets.jsonl [--conf 0.25] [--iou 0.45]
                   [--tiles none|auto|NxM] [--backend B] [--annotate OUT_DIR|OUT.mp4] [--batch N]
                   [--max-frames N]
    percept export MODEL.pt --format onnx|engine [--half] [--int8 --calib-images DIR] [--imgsz 640]
                   [--batch N] [--out PATH]

``percept detect`` writes one JSON object per image or video frame::

    {"source": "path", "frame": 1, "stamp_ns": 0,
     "detections": [{"xyxy": [x1, y1, x2, y2], "confidence": 0.9, "class_id": 5, "class_name": "bus"}]}

Boxes are in source-image pixels. ``frame`` counts the images (natural name order) or video frames of
the run from 1. ``stamp_ns``: for a video the frame's position (``CAP_PROP_POS_MSEC``) in ns, for an
image the file's modification time in ns (0 if it cannot be read). An image that cannot be read is
logged and skipped (its frame number stays used). ``--annotate`` writes a copy of every frame with
boxes and labels drawn: into a folder (``<image stem>.jpg``, or ``<video stem>_<frame:06d>.jpg``),
or, when it names an ``.mp4`` file, into one video (OpenCV ``mp4v``) at the source video's frame
rate (:data:`ANNOTATE_FPS` for images; frames of another size are scaled to the first one's).
On a terminal a progress bar shows the frames done (stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from percept import cliutil
from percept.cliutil import out as _out
from percept.detections import Detections
from percept.imagefiles import IMAGE_SUFFIXES, list_images
from perception.config import BACKENDS, DetectorConfig
from perception.errors import DetectorError

log = logging.getLogger(__name__)


@dataclass
class Frame:
    """One image or video frame of a ``percept detect`` source.

    Attributes:
        source: file it came from; frame: 1-based position in the run; stamp_ns: see module doc;
        image: uint8 (H, W, 3) BGR, or None if it could not be read.
    """

    source: Path
    frame: int
    stamp_ns: int
    image: np.ndarray | None


def iter_frames(source: Path, max_frames: int | None = None) -> Iterator[Frame]:
    """The frames of an image file, a folder of images (in natural name order) or a video file;
    at most ``max_frames`` (>= 1) of them, all when None."""
    import cv2

    if max_frames is not None and max_frames < 1:
        raise DetectorError(f"--max-frames: expected >= 1, got {max_frames}")
    if not source.exists():
        raise DetectorError(f"--source: not found: {source}")
    if source.is_dir():
        files = list_images(source)
        if not files:
            raise DetectorError(f"--source: no images ({', '.join(IMAGE_SUFFIXES)}) in folder {source}")
    elif source.suffix.lower() in IMAGE_SUFFIXES:
        files = [source]
    else:
        yield from _video_frames(source, max_frames)
        return
    for n, path in enumerate(files if max_frames is None else files[:max_frames], start=1):
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = 0
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("%s: cannot be read as an image; skipped", path)
        yield Frame(path, n, stamp, img)


def _video_frames(path: Path, max_frames: int | None) -> Iterator[Frame]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DetectorError(f"--source: {path} is neither an image ({', '.join(IMAGE_SUFFIXES)}), "
                            "a folder nor a video OpenCV can open")
    try:
        n = 0
        while max_frames is None or n < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            n += 1
            yield Frame(path, n, round(cap.get(cv2.CAP_PROP_POS_MSEC) * 1e6), img)
    finally:
        cap.release()
    if n == 0:
        raise DetectorError(f"--source: no frame could be decoded from video {path}")


def count_frames(source: Path, max_frames: int | None = None) -> int | None:
    """How many frames :func:`iter_frames` will yield (a video's count from its header; None
    when unknown)."""
    import cv2

    if source.is_dir():
        n: int | None = len(list_images(source))
    elif source.suffix.lower() in IMAGE_SUFFIXES:
        n = 1
    else:
        cap = cv2.VideoCapture(str(source))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        n = count if count > 0 else None
    if n is not None and max_frames is not None:
        n = min(n, max_frames)
    return n


def detection_record(frame: Frame, dets: Detections, class_names: Sequence[str]) -> dict[str, Any]:
    """The JSON object of one frame (schema in the module docstring)."""
    rows = []
    columns = (dets.xyxy.tolist(), dets.confidence.tolist(), dets.class_id.tolist())
    for box, conf, cid in zip(*columns, strict=True):
        name = class_names[cid] if 0 <= cid < len(class_names) else str(cid)
        rows.append({"xyxy": [round(v, 2) for v in box], "confidence": round(conf, 5),
                     "class_id": int(cid), "class_name": name})
    return {"source": str(frame.source), "frame": frame.frame, "stamp_ns": int(frame.stamp_ns),
            "detections": rows}


def _colour(class_id: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(class_id * 7919 + 17)
    b, g, r = (int(v) for v in rng.integers(64, 256, 3))
    return b, g, r


def annotate(image: np.ndarray, dets: Detections, class_names: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) BGR with each box and a ``name conf`` label drawn."""
    import cv2

    out = image.copy()
    for box, conf, cid in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        colour = _colour(int(cid))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        name = class_names[cid] if 0 <= cid < len(class_names) else str(cid)
        label = f"{name} {conf:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = max(y1, th + base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), colour, -1)
        cv2.putText(out, label, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


#: Frame rate of an ``--annotate OUT.mp4`` video made from images (a video keeps its own rate).
ANNOTATE_FPS = 10.0


class AnnotationWriter:
    """Where ``--annotate`` puts the annotated frames: image files in a folder, or one MP4 video.

    Args:
        target: a folder (created), or a path ending in ``.mp4`` (its folder is created).
        source: the ``--source`` (a video gives the video its frame rate).
    """

    def __init__(self, target: Path, source: Path) -> None:
        self.target = target
        self.is_video = target.suffix.lower() == ".mp4"
        self._writer: Any = None
        self._size: tuple[int, int] = (0, 0)
        self.frames = 0
        if not self.is_video:
            if target.exists() and not target.is_dir():
                raise DetectorError(f"--annotate: {target} is a file; name a folder for images or an .mp4 "
                                    "file for a video")
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        self.fps = _video_fps(source) if source.is_file() and source.suffix.lower() not in IMAGE_SUFFIXES \
            else ANNOTATE_FPS

    def write(self, frame: Frame, image: np.ndarray) -> None:
        """Add one annotated uint8 (H, W, 3) BGR frame."""
        import cv2

        self.frames += 1
        if not self.is_video:
            path = self.target / _annotated_name(frame)
            if not cv2.imwrite(str(path), image):
                raise DetectorError(f"--annotate: cannot write {path}")
            return
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self.target), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise DetectorError(f"--annotate: cannot open a video writer for {self.target}")
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)

    def close(self) -> None:
        """Finish the video (idempotent; nothing to do for a folder)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def _video_fps(path: Path) -> float:
    """The frame rate a video file states, :data:`ANNOTATE_FPS` when it states none."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    return fps if 0 < fps < 1e4 else ANNOTATE_FPS


def _annotated_name(frame: Frame) -> str:
    if frame.source.suffix.lower() in IMAGE_SUFFIXES:
        return f"{frame.source.stem}.jpg"
    return f"{frame.source.stem}_{frame.frame:06d}.jpg"


def cmd_detect(args: argparse.Namespace) -> int:
    """``percept detect``: detections of every frame of ``--source`` as JSON lines in ``--out``."""
    from perception.detector import Detector

    if args.batch < 1:
        raise DetectorError(f"--batch: expected >= 1, got {args.batch}")
    config = DetectorConfig(model=args.model, backend=args.backend, conf=args.conf, iou=args.iou,
                            tiles=args.tiles)
    source = Path(args.source)
    annotations = AnnotationWriter(Path(args.annotate), source) if args.annotate else None
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    counts = {"frames": 0, "unreadable": 0, "detections": 0}
    with Detector(config) as detector, out_path.open("w", encoding="utf-8") as fh, \
            cliutil.progress("detect", count_frames(source, args.max_frames), unit="frames") as progress:
        names = detector.class_names

        def run(batch: list[Frame]) -> None:
            results = detector.detect([f.image for f in batch])  # type: ignore[misc]
            for frame, dets in zip(batch, results, strict=True):
                _write(fh, detection_record(frame, dets, names))
                counts["frames"] += 1
                counts["detections"] += len(dets)
                progress(counts["frames"] + counts["unreadable"])
                if annotations is not None:
                    annotations.write(frame, annotate(frame.image, dets, names))  # type: ignore[arg-type]

        pending: list[Frame] = []
        try:
            for frame in iter_frames(source, args.max_frames):
                if frame.image is None:
                    counts["unreadable"] += 1
                    continue
                pending.append(frame)
                if len(pending) >= args.batch:
                    run(pending)
                    pending = []
            if pending:
                run(pending)
        finally:
            if annotations is not None:
                annotations.close()
    log.info("%d frames, %d detections -> %s (%d unreadable images skipped)", counts["frames"],
             counts["detections"], out_path, counts["unreadable"])
    return 0 if counts["frames"] else 1


def _write(fh: TextIO, record: dict[str, Any]) -> None:
    fh.write(json.dumps(record, separators=(",", ":")) + "\n")


def cmd_export(args: argparse.Namespace) -> int:
    """``percept export``: an ultralytics model to ONNX or a TensorRT engine."""
    from perception.export import export_model

    if args.int8 and not args.calib_images:
        raise DetectorError("--int8 needs --calib-images DIR (a folder of calibration images)")
    imgsz = args.imgsz[0] if len(args.imgsz) == 1 else (args.imgsz[0], args.imgsz[1])
    path = export_model(args.model, format=args.format, half=args.half, int8=args.int8,
                        calib_images=Path(args.calib_images) if args.calib_images else None,
                        imgsz=imgsz, batch=args.batch, dynamic=args.dynamic,
                        out=Path(args.out) if args.out else None)
    _out(str(path))
    return 0


def register(registry: Any) -> None:
    """Add ``detect`` and ``export`` to the ``percept`` CLI (see ``percept.cli``)."""
    d = registry.commands.add_parser("detect", help="detect objects in images, a folder or a video")
    d.add_argument("--model", required=True, metavar="FILE", help="model file (.onnx, .engine, .pt)")
    d.add_argument("--source", required=True, metavar="PATH",
                   help="image file, folder of images or video file")
    d.add_argument("--out", required=True, metavar="JSONL",
                   help="JSON-lines output file (one line per frame)")
    d.add_argument("--conf", type=float, default=0.25, help="minimum score")
    d.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold")
    d.add_argument("--tiles", default="none", help="none, auto or NxM (columns x rows) tiles per image")
    d.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="inference backend (auto: by the model file)")
    d.add_argument("--annotate", default=None, metavar="OUT_DIR|OUT.mp4",
                   help="write annotated frames: images into folder OUT_DIR, or one video to a .mp4 path")
    d.add_argument("--batch", type=cliutil.positive_int, default=1, metavar="N",
                   help="images per detector call")
    d.add_argument("--max-frames", type=cliutil.positive_int, default=None, metavar="N",
                   help="stop after N frames (default: all)")
    d.set_defaults(func=cmd_detect)

    e = registry.commands.add_parser("export", help="export an ultralytics model to ONNX or TensorRT")
    e.add_argument("model", help="ultralytics .pt checkpoint or .yaml definition")
    e.add_argument("--format", required=True, choices=["onnx", "engine"], help="ONNX file or TensorRT engine")
    precision = e.add_mutually_exclusive_group()
    precision.add_argument("--half", action="store_true", help="FP16")
    precision.add_argument("--int8", action="store_true", help="INT8 (needs --calib-images)")
    e.add_argument("--calib-images", default=None, metavar="DIR", help="INT8 calibration images")
    e.add_argument("--imgsz", type=int, nargs="+", default=[640], metavar="PX", help="input size: S or H W")
    e.add_argument("--batch", type=cliutil.positive_int, default=1, metavar="N",
                   help="batch size (maximum batch with --dynamic)")
    e.add_argument("--dynamic", action="store_true", help="dynamic batch axis")
    e.add_argument("--out", default=None, metavar="PATH", help="output file (default: beside the model)")
    e.set_defaults(func=cmd_export)
