"""Ultralytics backend: runs a YOLOv8/YOLO11 ``.pt`` checkpoint (or ``.yaml`` definition) with torch.

The backend returns the **raw head output in the yolov8 layout** — one float32 array
(B, 4 + C, N): per anchor point the box centre x, centre y, width, height in model-input pixels,
then C sigmoided class scores — exactly what an ultralytics ONNX export produces. Decoding and
NMS therefore stay in :mod:`perception.decode` / :mod:`perception.nms`, and a ``.pt`` gives the
same detections as its ONNX export (within float tolerance).

Input is the preprocessed batch (B, 3, h, w) float32, RGB scaled to [0, 1] (see
:func:`ultralytics_model_info`); h and w must be multiples of the model stride (32).

Nothing is ever downloaded: ``YOLO_OFFLINE=1`` and ``YOLO_AUTOINSTALL=false`` are set before
ultralytics is imported, a ``.pt`` path must exist (a bare name such as ``yolo11n.pt`` that is not a
local file is refused instead of being fetched), and a ``.yaml`` is either a local file or a model
definition shipped inside the ultralytics package (``yolo11n.yaml``, random weights). Models whose
head is NMS-free ("end2end", YOLO26/YOLOv10) are switched to their one-to-many branch so the layout
stays (B, 4 + C, N), as ultralytics' own ONNX export does by default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from perception.config import DetectorConfig
from perception.errors import DetectorError
from perception.family import ModelInfo

log = logging.getLogger(__name__)

_MODEL_SUFFIXES = (".pt", ".yaml", ".yml")


def offline_ultralytics() -> Any:
    """Import and return the ``ultralytics`` module with downloads and auto-installs disabled.

    Sets ``YOLO_OFFLINE=1`` and ``YOLO_AUTOINSTALL=false`` (unless the caller set them) before
    the first import; both are read by ultralytics at import time.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    try:
        import ultralytics
    except ImportError as exc:  # pragma: no cover - ultralytics is installed in the dev venv
        raise DetectorError("the ultralytics backend needs the 'ultralytics' package "
                            "(pip install ultralytics)") from exc
    return ultralytics


def check_model_path(path: str | Path) -> str:
    """Validate a ``.pt``/``.yaml`` model reference and return it as a string.

    A ``.pt`` must be an existing file. A ``.yaml`` may be a local file or a bare file name of a
    definition shipped with ultralytics (``yolo11n.yaml``). Raises :class:`DetectorError` naming
    the path otherwise.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _MODEL_SUFFIXES:
        raise DetectorError(f"ultralytics model {str(path)!r}: expected a .pt checkpoint or .yaml "
                            f"definition, got suffix {p.suffix or '(none)'!r}")
    if suffix == ".pt" and not p.is_file():
        raise DetectorError(f"ultralytics model file not found: {p} (weights are never downloaded; "
                            "pass the path of a local .pt file)")
    if suffix in {".yaml", ".yml"} and not p.is_file() and len(p.parts) > 1:
        raise DetectorError(f"ultralytics model definition not found: {p}")
    return str(p)


def load_yolo(path: str | Path) -> Any:
    """Load ``ultralytics.YOLO(path)`` offline; errors become :class:`DetectorError` naming the path."""
    ref = check_model_path(path)
    offline_ultralytics()
    from ultralytics import YOLO

    try:
        yolo = YOLO(ref)
    except Exception as exc:  # ultralytics raises many types (FileNotFoundError, TypeError, ...)
        raise DetectorError(f"ultralytics could not load model {ref!r}: {exc}") from exc
    if yolo.task != "detect":
        raise DetectorError(f"ultralytics model {ref!r} has task {yolo.task!r}; "
                            "only 'detect' models are supported")
    return yolo


def _imgsz_hw(imgsz: Any) -> tuple[int, int]:
    """``imgsz`` (int, [h, w] or "h,w") → (h, w)."""
    if isinstance(imgsz, str):
        imgsz = [int(v) for v in imgsz.replace(",", " ").split()]
    if isinstance(imgsz, int):
        return (imgsz, imgsz)
    vals = [int(v) for v in imgsz]
    return (vals[0], vals[0]) if len(vals) == 1 else (vals[0], vals[1])


def ultralytics_model_info(yolo: Any, overrides: Mapping[str, Any] | None = None) -> ModelInfo:
    """The :class:`ModelInfo` of a loaded ``ultralytics.YOLO`` detection model.

    Family "yolov8" (output (B, 4 + C, N), no objectness), input size from the model's training
    ``imgsz`` (default 640 → (640, 640)), class names from ``yolo.names`` in index order, RGB
    channel order, scale 1/255, no mean/std, letterbox pad 114, dynamic batch. ``overrides`` may
    replace ``input_size`` (h, w) and ``class_names``.
    """
    names_map = yolo.names
    names = tuple(str(names_map[i]) for i in sorted(names_map))
    args = getattr(yolo.model, "args", None) or {}
    size = _imgsz_hw(args.get("imgsz", 640) if isinstance(args, Mapping) else 640)
    ov = dict(overrides or {})
    if ov.get("family") not in (None, "yolov8"):
        raise DetectorError(f"ultralytics models decode as family 'yolov8'; family override {ov['family']!r} "
                            "is not supported for .pt/.yaml models")
    if ov.get("input_size") is not None:
        size = (int(ov["input_size"][0]), int(ov["input_size"][1]))
    if ov.get("class_names") is not None:
        names = tuple(str(n) for n in ov["class_names"])
    stride = int(max(yolo.model.stride)) if hasattr(yolo.model, "stride") else 32
    if size[0] % stride or size[1] % stride:
        raise DetectorError(f"ultralytics model input_size {size} must be a multiple of the stride {stride}")
    return ModelInfo(
        family="yolov8",
        input_size=size,
        class_names=names,
        channel_order="rgb",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        scale=1.0 / 255.0,
        pad_value=114,
        dynamic_batch=True,
        center=True,
    )


class UltralyticsBackend:
    """A :class:`perception.backends.base.Backend` running an ultralytics detection model with torch.

    Args:
        path: a local ``.pt`` checkpoint or a ``.yaml`` model definition (random weights).
        device: ``"cpu"`` (default) or a CUDA device (``"cuda"``, ``"cuda:0"``, ``"0"``); a CUDA
            device that is not available raises :class:`DetectorError`.
        max_batch: largest batch one :meth:`infer` call takes (the detector splits bigger ones).
        overrides: optional ``input_size`` / ``class_names`` for :attr:`info`.

    ``infer`` returns ``[out]`` with ``out`` float32 (B, 4 + C, N) — see the module docstring.
    """

    name = "ultralytics"
    input_names: tuple[str, ...] = ("images",)
    output_names: tuple[str, ...] = ("output0",)

    def __init__(self, path: str | Path, device: str = "cpu", max_batch: int = 32,
                 overrides: Mapping[str, Any] | None = None) -> None:
        import torch

        if max_batch < 1:
            raise DetectorError(f"UltralyticsBackend max_batch must be >= 1, got {max_batch}")
        self.max_batch = int(max_batch)
        self.device = self._torch_device(device)
        self.path = str(path)
        yolo = load_yolo(path)
        self.info: ModelInfo = ultralytics_model_info(yolo, overrides)
        model = yolo.model
        if getattr(model, "end2end", False):
            model.end2end = False  # one-to-many branch: (B, 4 + C, N) like the default ONNX export
        model = model.float().eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if hasattr(model, "fuse"):
            model = model.fuse(verbose=False)  # fold BatchNorm into convs, as ultralytics inference/export do
        self._model: torch.nn.Module | None = model.to(self.device)
        self._torch = torch
        log.info("ultralytics backend: %s on %s, %d classes, input %s", self.path, self.device,
                 len(self.info.class_names), self.info.input_size)

    @staticmethod
    def _torch_device(device: str) -> Any:
        import torch

        d = str(device).strip().lower()
        if d in {"", "cpu"}:
            return torch.device("cpu")
        if d.isdigit():
            d = f"cuda:{d}"
        if not d.startswith("cuda"):
            raise DetectorError(f"UltralyticsBackend device must be 'cpu' or 'cuda[:N]', got {device!r}")
        if not torch.cuda.is_available():
            raise DetectorError(f"UltralyticsBackend device {device!r} requested but CUDA is not available "
                                "(use device='cpu')")
        try:
            return torch.device(d)
        except RuntimeError as exc:
            raise DetectorError(f"UltralyticsBackend: bad device {device!r}: {exc}") from exc

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run ``batch`` float32 (B, 3, h, w), RGB in [0, 1], B <= max_batch → ``[(B, 4 + C, N) float32]``."""
        if self._model is None:
            raise DetectorError("UltralyticsBackend is closed")
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise DetectorError(f"UltralyticsBackend.infer expects (B, 3, h, w), got shape {batch.shape}")
        if batch.shape[0] > self.max_batch:
            raise DetectorError(f"UltralyticsBackend.infer: batch {batch.shape[0]} > "
                                f"max_batch {self.max_batch}")
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            y = self._model(x)
        if isinstance(y, (tuple, list)):
            y = y[0]  # eval mode returns (decoded, raw feature dict)
        return [y.float().cpu().numpy()]

    def close(self) -> None:
        """Drop the model (and free CUDA memory when on a GPU)."""
        if self._model is None:
            return
        self._model = None
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()


def create(config: DetectorConfig, info: ModelInfo | None = None) -> UltralyticsBackend:
    """Factory used by :func:`perception.backends.make_backend`: the config's model, device and overrides.

    ``info`` (known only when the config overrides family, input size and class names) is
    ignored: the detector then uses it instead of :attr:`UltralyticsBackend.info`.
    """
    return UltralyticsBackend(config.model, device=config.device, overrides=config.overrides())
