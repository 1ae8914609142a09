"""Export ultralytics detection models to ONNX or TensorRT engines through ``YOLO(model).export``.

:func:`export_model` wraps ultralytics' exporter (``ultralytics/engine/exporter.py``, 8.4 API:
precision is ``quantize`` = 16 (FP16) / 8 (INT8) / None (FP32); the old ``half``/``int8`` flags
map onto it). It never downloads anything: the model must be a local ``.pt`` (or a ``.yaml``
definition), INT8 needs local calibration images (ultralytics would otherwise fall back to
downloading ``coco8``), and auto-install of missing packages is disabled.

* ``format="onnx"`` runs on CPU. The ONNX carries ultralytics' metadata (``names``, ``imgsz``,
  ``task``), so :func:`perception.family.detect_model_info` recognises it as family "yolov8".
* ``format="engine"`` needs TensorRT and a CUDA GPU; without them :class:`DetectorError` is
  raised before ultralytics is asked (it would try to ``pip install tensorrt``). To build an
  engine from any ONNX file (YOLOX, NanoDet, ...) use :func:`build_engine_from_onnx`.

INT8 calibration goes through ultralytics' ``data=`` mechanism, which wants a dataset YAML: a
temporary one is written whose ``val`` split is a folder of symlinks to the calibration images
(label files are not needed; the label cache is written in the temporary folder, never beside
the images).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from percept.imagefiles import IMAGE_SUFFIXES, list_images
from perception.backends.ultralytics import check_model_path, load_yolo
from perception.errors import DetectorError

log = logging.getLogger(__name__)

ExportFormat = Literal["onnx", "engine"]
_SUFFIX = {"onnx": ".onnx", "engine": ".engine"}


def _calibration_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder`` (natural name order); DetectorError if none."""
    if not folder.is_dir():
        raise DetectorError(f"export_model calib_images: not a folder: {folder}")
    images = list_images(folder)
    if not images:
        raise DetectorError(f"export_model calib_images: no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


def write_calibration_yaml(images: list[Path], names: dict[int, str], workdir: Path) -> Path:
    """Write an ultralytics detection dataset YAML whose train/val split is ``images``.

    The images are symlinked into ``workdir/calib/images`` (so the label lookup and cache land in
    ``workdir``); returns the YAML path.
    """
    img_dir = workdir / "calib" / "images"
    img_dir.mkdir(parents=True)
    for i, src in enumerate(images):
        (img_dir / f"{i:05d}_{src.name}").symlink_to(src.resolve())
    lines = [f"path: {(workdir / 'calib').as_posix()}", "train: images", "val: images", "names:"]
    lines += [f"  {k}: {str(v)!r}" for k, v in sorted(names.items())]
    yaml_path = workdir / "calib.yaml"
    yaml_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return yaml_path


def _check_engine_prerequisites(device: str | None) -> None:
    import torch

    missing = []
    if importlib.util.find_spec("tensorrt") is None:
        missing.append("the 'tensorrt' Python package is not installed")
    if not torch.cuda.is_available():
        missing.append("no CUDA GPU is available")
    if device is not None and str(device).lower() == "cpu":
        missing.append("device='cpu' was requested")
    if missing:
        raise DetectorError(
            "TensorRT engine export needs TensorRT and a CUDA GPU, but " + " and ".join(missing)
            + "; export format='onnx' here and build the engine on the target machine "
            "(perception.export.build_engine_from_onnx)"
        )


def export_model(
    model_path: str | Path,
    format: ExportFormat = "onnx",
    half: bool = False,
    int8: bool = False,
    calib_images: Path | None = None,
    imgsz: int | tuple[int, int] = 640,
    batch: int = 1,
    dynamic: bool = False,
    out: Path | None = None,
    device: str | None = None,
) -> Path:
    """Export an ultralytics detection model and return the path of the written file.

    Args:
        model_path: local ``.pt`` checkpoint or ``.yaml`` definition (random weights).
        format: ``"onnx"`` or ``"engine"`` (TensorRT; needs TensorRT and a GPU).
        half: FP16 weights/activations (ONNX: converted on CPU, inputs stay float32).
        int8: INT8 with calibration on ``calib_images`` (required); exclusive with ``half``.
        calib_images: folder of calibration images (jpg/png/...), used only with ``int8``.
        imgsz: network input size, int (square) or (h, w); multiples of the stride (32).
        batch: batch size of the exported input (the maximum batch when ``dynamic``).
        dynamic: symbolic batch (and, for ONNX, height/width) axes.
        out: destination file; default beside the ``.pt`` (``.yaml``: current folder) with the
            format's suffix. An existing file is replaced.
        device: export device (``None``: CPU for ONNX, GPU 0 for engines).

    Raises:
        DetectorError: bad arguments, missing model or calibration images, missing TensorRT/GPU,
            or any failure inside ultralytics' exporter (its message is included).
    """
    if format not in _SUFFIX:
        raise DetectorError(f"export_model format: expected 'onnx' or 'engine', got {format!r}")
    if half and int8:
        raise DetectorError("export_model: half and int8 are exclusive; choose one precision")
    if batch < 1:
        raise DetectorError(f"export_model batch: expected >= 1, got {batch}")
    ref = Path(check_model_path(model_path))
    images: list[Path] = []
    if int8:
        if calib_images is None:
            raise DetectorError("export_model int8=True needs calib_images (a folder of calibration images); "
                                "ultralytics' default dataset would have to be downloaded")
        images = _calibration_images(Path(calib_images))
    elif calib_images is not None:
        log.warning("export_model: calib_images ignored without int8=True")
    if format == "engine":
        _check_engine_prerequisites(device)

    suffix = _SUFFIX[format]
    dest = Path(out) if out is not None else (
        ref.with_suffix(suffix) if ref.is_file() else Path.cwd() / ref.with_suffix(suffix).name)
    yolo = load_yolo(ref)
    with tempfile.TemporaryDirectory(prefix="percept-export-") as tmp:
        work = Path(tmp)
        # ultralytics writes the artifact beside model.pt_path; point it into the temporary folder
        yolo.model.pt_path = str(work / f"{ref.stem}.pt")
        kwargs: dict[str, Any] = {
            "format": format,
            "imgsz": list(imgsz) if isinstance(imgsz, tuple) else int(imgsz),
            "batch": int(batch),
            "dynamic": bool(dynamic),
            "quantize": 8 if int8 else 16 if half else None,
            "device": device if device is not None else ("0" if format == "engine" else "cpu"),
            "nms": None,
            "verbose": False,
        }
        if int8:
            kwargs["data"] = str(write_calibration_yaml(images, dict(yolo.names), work))
        try:
            produced = Path(yolo.export(**kwargs))
        except Exception as exc:  # the exporter raises AssertionError, ValueError, RuntimeError, ...
            raise DetectorError(
                f"ultralytics {format} export of {ref} failed: {type(exc).__name__}: {exc}") from exc
        if not produced.is_file():
            raise DetectorError(
                f"ultralytics {format} export of {ref} produced no file (expected {produced})")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), dest)
    log.info("exported %s → %s (%s, quantize=%s, imgsz=%s, batch=%d, dynamic=%s)", ref, dest, format,
             kwargs["quantize"], imgsz, batch, dynamic)
    return dest


def build_engine_from_onnx(*args: Any, **kwargs: Any) -> Path:
    """Build a TensorRT engine from any ONNX file (``perception.backends.tensorrt.build_engine_from_onnx``).

    Imported lazily so this module works without TensorRT; raises :class:`DetectorError` when the
    TensorRT backend module is not available.
    """
    try:
        from perception.backends.tensorrt import build_engine_from_onnx as build
    except ImportError as exc:
        raise DetectorError(f"building TensorRT engines needs perception.backends.tensorrt: {exc}") from exc
    return Path(build(*args, **kwargs))
