"""``percept bench detect``: the detector's per-frame latency beside its floor and ultralytics.

Three implementations run on the same images and the same model file:

* ``percept``: :meth:`perception.detector.Detector.detect` end to end (letterbox + tensor,
  inference, decode + NMS + box mapping), with the per-stage split from ``Detector.timings``;
* ``raw_onnxruntime``: only ``InferenceSession.run`` on a tensor preprocessed beforehand: the
  floor no detector can beat on the same engine;
* ``ultralytics``: ``YOLO(model).predict()`` on the same ONNX file (only for an ultralytics
  export: its metadata carry ``names`` and ``stride``; otherwise the row is skipped with a note).

Fairness: every onnxruntime session gets ``intra_op_num_threads = threads`` (default 1, i.e.
single-threaded, the honest comparison on a shared machine); ``torch.set_num_threads`` and
``cv2.setNumThreads`` are set to the same count for the run and restored afterwards (ultralytics
pre/post-processes with torch, both resize with OpenCV). ``warmup`` calls per implementation are
not timed.

Latency is the wall time of one call on ``batch`` images (every frame of a batch waits for the
whole call, so that is its latency), in milliseconds; p50/p99 over ``runs`` passes over the images;
``fps`` = frames timed / total timed seconds. Box agreement: percept's and ultralytics' boxes on
each image matched one-to-one (same class, IoU >= 0.99).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from percept.boxes import box_iou
from percept.detections import Detections
from percept.imagefiles import IMAGE_SUFFIXES, list_images
from perception.errors import DetectorError
from perception.onnx_io import read_onnx

log = logging.getLogger(__name__)

Progress = Callable[[str], None] | None


@dataclass
class BenchRow:
    """One implementation's result; ``extra`` holds implementation-specific keys."""

    impl: str
    model: str
    batch: int
    p50_ms: float
    p99_ms: float
    fps: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"impl": self.impl, "model": self.model, "batch": self.batch, "p50_ms": round(self.p50_ms, 4),
                "p99_ms": round(self.p99_ms, 4), "fps": round(self.fps, 2), **self.extra}


@dataclass
class BenchReport:
    """Rows of one ``bench detect`` run and notes (skipped implementations, settings)."""

    rows: list[BenchRow]
    notes: list[str] = field(default_factory=list)

    def row(self, impl: str) -> BenchRow | None:
        return next((r for r in self.rows if r.impl == impl), None)

    def as_rows(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows]

    def summary_lines(self) -> list[str]:
        """Human-readable ratios, agreement and notes."""
        lines = []
        p = self.row("percept")
        if p is not None:
            if "vs_raw_p50" in p.extra:
                lines.append(f"percept / raw onnxruntime (p50): x{p.extra['vs_raw_p50']:.3f}")
            if "speedup_vs_ultralytics_p50" in p.extra:
                lines.append(f"percept speed-up vs ultralytics predict (p50): "
                             f"x{p.extra['speedup_vs_ultralytics_p50']:.2f}")
        u = self.row("ultralytics")
        if u is not None and "matched" in u.extra:
            x = u.extra
            lines.append(f"box agreement (same class, IoU >= 0.99): {x['matched']} matched of "
                         f"{x['percept_boxes']} percept / {x['ultralytics_boxes']} ultralytics boxes")
        return lines + [f"note: {n}" for n in self.notes]


def stage_text(row: BenchRow) -> str:
    """`` (pre x / infer y / post z ms p50)`` for rows with a stage split, else ``""``."""
    keys = ("preprocess_p50_ms", "infer_p50_ms", "postprocess_p50_ms")
    if not all(k in row.extra for k in keys):
        return ""
    pre, inf, post = (row.extra[k] for k in keys)
    return f"  (pre {pre:.2f} / infer {inf:.2f} / post {post:.2f} ms p50)"


def load_images(folder: Path | None) -> list[np.ndarray]:
    """BGR images of ``folder`` (default: the shared ``images`` folder), in natural name order."""
    import cv2

    if folder is None:
        from percept.data import data_dir

        folder = data_dir() / "images"
        if not folder.is_dir():
            raise DetectorError(f"no --images folder given and the shared images folder {folder} is absent")
    if not folder.is_dir():
        raise DetectorError(f"--images: not a folder: {folder}")
    images = [img for p in list_images(folder) if (img := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None]
    if not images:
        raise DetectorError(f"--images: no readable images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


def make_batches(images: Sequence[np.ndarray], batch: int) -> list[list[np.ndarray]]:
    """Batches of ``batch`` images cycling through ``images`` (every image used at least once)."""
    n = max(1, math.ceil(len(images) / batch))
    return [[images[(k * batch + j) % len(images)] for j in range(batch)] for k in range(n)]


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


@dataclass
class Impl:
    """One implementation under test: ``fn(item)`` is timed for every item of ``inputs``.

    ``after`` (if set) runs after each timed call, outside the timing (stage bookkeeping).
    """

    name: str
    fn: Callable[[Any], Any]
    inputs: Sequence[Any]
    after: Callable[[], None] | None = None
    samples: list[float] = field(default_factory=list)


def measure(impls: Sequence[Impl], runs: int, warmup: int) -> None:
    """Fill each impl's ``samples`` (ms): ``warmup`` untimed calls each, then ``runs`` passes.

    Passes are interleaved (one pass of every implementation per run), so load from other
    processes on the machine hits all implementations alike.
    """
    for impl in impls:
        for i in range(warmup):
            impl.fn(impl.inputs[i % len(impl.inputs)])
    for _ in range(runs):
        for impl in impls:
            for item in impl.inputs:
                t0 = time.perf_counter_ns()
                impl.fn(item)
                impl.samples.append((time.perf_counter_ns() - t0) / 1e6)
                if impl.after is not None:
                    impl.after()


def _row(impl: str, model: str, batch: int, samples: Sequence[float], **extra: Any) -> BenchRow:
    p50, p99 = _percentiles(samples)
    fps = len(samples) * batch / (sum(samples) / 1e3) if sum(samples) > 0 else 0.0
    return BenchRow(impl, model, batch, p50, p99, fps, dict(extra))


def ort_session(path: str | Path, threads: int) -> Any:
    """A CPU onnxruntime session with ``threads`` intra-op threads (other options default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def make_detector(model: str, backend: str, threads: int, conf: float, iou: float) -> Any:
    """A :class:`Detector` on the CPU; with onnxruntime its session gets ``threads`` intra-op
    threads (``DetectorConfig.threads``), as the raw and ultralytics sessions of the benchmark do."""
    from perception.config import DetectorConfig
    from perception.detector import Detector

    config = DetectorConfig(model=model, backend=backend, conf=conf, iou=iou,  # type: ignore[arg-type]
                            providers=("CPUExecutionProvider",), threads=threads)
    return Detector(config)


class PerceptImpl(Impl):
    """``det.detect`` end to end, recording the detector's stage split after every call."""

    def __init__(self, det: Any, batches: Sequence[list[np.ndarray]]) -> None:
        super().__init__("percept", det.detect, batches, self._record)
        self.det = det
        self.stages: dict[str, list[float]] = {"preprocess": [], "infer": [], "postprocess": []}

    def _record(self) -> None:
        t = self.det.timings
        self.stages["preprocess"].append(t.preprocess_ms)
        self.stages["infer"].append(t.infer_ms)
        self.stages["postprocess"].append(t.postprocess_ms)

    def stage_extra(self) -> dict[str, float]:
        extra: dict[str, float] = {}
        for name, vals in self.stages.items():
            p50, p99 = _percentiles(vals)
            extra[f"{name}_p50_ms"], extra[f"{name}_p99_ms"] = round(p50, 4), round(p99, 4)
        return extra


def raw_onnxruntime_impl(info: Any, model: str, batches: Sequence[list[np.ndarray]], threads: int) -> Impl:
    """``session.run`` only, on tensors preprocessed beforehand (percept's letterbox and scaling).

    A fixed-batch model (batch b) runs ``ceil(batch / b)`` times per call, as the detector does.
    """
    from perception.preprocess import letterbox, to_tensor

    session = ort_session(model, threads)
    sig = read_onnx(model)
    fixed = sig.fixed_batch
    step = fixed or len(batches[0])
    tensors = []
    for b in batches:
        chunks = []
        for s in range(0, len(b), step):
            canvases = [letterbox(img, info.input_size, info.pad_value, info.center)[0]
                        for img in b[s : s + step]]
            t = to_tensor(canvases, info)
            if fixed and len(t) < fixed:  # pad a short last chunk, as the backend does
                t = np.concatenate([t, np.zeros((fixed - len(t), *t.shape[1:]), t.dtype)])
            chunks.append(np.ascontiguousarray(t))
        tensors.append(chunks)

    def run(chunks: list[np.ndarray]) -> None:
        for t in chunks:
            session.run(None, {sig.input_name: t})

    return Impl("raw_onnxruntime", run, tensors)


def is_ultralytics_onnx(model: str | Path) -> bool:
    """Whether ``model`` is an ONNX file exported by ultralytics (metadata ``names`` and ``stride``)."""
    if Path(model).suffix.lower() != ".onnx":
        return False
    meta = ort_session(model, 1).get_modelmeta().custom_metadata_map
    return "names" in meta and "stride" in meta


def ultralytics_predictor(model: str, threads: int, imgsz: tuple[int, int], conf: float, iou: float,
                          warm_image: np.ndarray) -> Callable[[list[np.ndarray]], list[Detections]]:
    """``YOLO(model).predict`` as a function of a BGR batch → Detections per image.

    After the first call builds ultralytics' predictor, its onnxruntime session is replaced by one
    with ``threads`` intra-op threads (ultralytics creates its session with default options).
    """
    from perception.backends.ultralytics import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    yolo = YOLO(model, task="detect")
    kwargs = {"imgsz": list(imgsz), "conf": conf, "iou": iou, "device": "cpu", "verbose": False}
    yolo.predict([warm_image], **kwargs)
    backend = getattr(yolo.predictor.model, "backend", yolo.predictor.model)
    if not hasattr(backend, "session"):
        raise DetectorError(f"ultralytics did not load {model} with onnxruntime (no session to configure)")
    backend.session = ort_session(model, threads)

    def predict(images: list[np.ndarray]) -> list[Detections]:
        out = []
        for r in yolo.predict(images, **kwargs):
            b = r.boxes
            out.append(Detections(xyxy=b.xyxy.cpu().numpy(), confidence=b.conf.cpu().numpy(),
                                  class_id=b.cls.cpu().numpy().astype(np.int32)))
        return out

    return predict


def match_boxes(a: Detections, b: Detections, iou_thr: float = 0.99) -> int:
    """Number of one-to-one pairs of ``a`` and ``b`` rows of the same class with IoU >= ``iou_thr``."""
    if len(a) == 0 or len(b) == 0:
        return 0
    iou = box_iou(a.xyxy, b.xyxy)
    iou[a.class_id[:, None] != b.class_id[None, :]] = 0.0
    matched = 0
    while True:
        i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
        if iou[i, j] < iou_thr:
            return matched
        matched += 1
        iou[i, :] = 0.0
        iou[:, j] = 0.0


def box_agreement(ours: Sequence[Detections], theirs: Sequence[Detections],
                  iou_thr: float = 0.99) -> dict[str, Any]:
    """Counts of boxes and matches over images; ``agreement`` = matched / max(counts) (1.0 if none)."""
    n_a = sum(len(d) for d in ours)
    n_b = sum(len(d) for d in theirs)
    matched = sum(match_boxes(a, b, iou_thr) for a, b in zip(ours, theirs, strict=True))
    return {"percept_boxes": n_a, "ultralytics_boxes": n_b, "matched": matched,
            "agreement": round(matched / max(n_a, n_b), 4) if max(n_a, n_b) else 1.0}


def run(model: str | Path, images: Path | None = None, batch: int = 1, runs: int = 20, warmup: int = 3,
        threads: int = 1, backend: str = "auto", conf: float = 0.25, iou: float = 0.45,
        progress: Progress = None) -> BenchReport:
    """Benchmark ``model`` (see the module docstring); returns the rows and notes."""
    import cv2

    checks = (("batch", batch, 1), ("runs", runs, 1), ("warmup", warmup, 0), ("threads", threads, 1))
    for name, v, low in checks:
        if v < low:
            raise DetectorError(f"--{name}: expected >= {low}, got {v}")
    model = str(model)
    imgs = load_images(images)
    batches = make_batches(imgs, batch)
    say = progress or (lambda _text: None)
    notes = [f"{threads} intra-op thread(s) for every implementation, {len(imgs)} images, "
             f"{runs} runs, {warmup} warm-up calls"]
    saved_cv2 = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    torch_threads: int | None = None
    det = make_detector(model, backend, threads, conf, iou)
    try:
        percept = PerceptImpl(det, batches)
        impls: list[Impl] = [percept]
        if Path(model).suffix.lower() == ".onnx":
            impls.append(raw_onnxruntime_impl(det.info, model, batches, threads))
        else:
            notes.append("raw_onnxruntime skipped: the model is not an ONNX file")
        predict = None
        if is_ultralytics_onnx(model):
            say("loading ultralytics ...")
            torch_threads = _set_torch_threads(threads)  # ultralytics pre/post-processes with torch
            predict = ultralytics_predictor(model, threads, det.info.input_size, conf, iou, imgs[0])
            impls.append(Impl("ultralytics", predict, batches))
        else:
            notes.append("ultralytics skipped: the model is not an ultralytics ONNX export "
                         "(no 'names'/'stride' metadata)")
        say(f"timing {', '.join(i.name for i in impls)} (interleaved) ...")
        measure(impls, runs, warmup)
        rows = {i.name: _row(i.name, model, batch, i.samples) for i in impls}
        pr = rows["percept"]
        pr.extra.update(backend=det.backend.name, **percept.stage_extra())
        if "raw_onnxruntime" in rows:
            pr.extra["vs_raw_p50"] = round(pr.p50_ms / rows["raw_onnxruntime"].p50_ms, 4)
        if predict is not None:
            ur = rows["ultralytics"]
            pr.extra["speedup_vs_ultralytics_p50"] = round(ur.p50_ms / pr.p50_ms, 4)
            ours = [det.detect([im])[0] for im in imgs]
            ur.extra.update(box_agreement(ours, [predict([im])[0] for im in imgs]))
    finally:
        det.close()
        cv2.setNumThreads(saved_cv2)
        if torch_threads is not None:
            _set_torch_threads(torch_threads)
    for n in notes:
        log.info("bench detect: %s", n)
    return BenchReport(rows=list(rows.values()), notes=notes)


def _set_torch_threads(threads: int) -> int:
    """Set torch's intra-op thread count; return the previous count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return previous
