"""Model families and their preprocessing, read from an ONNX file's metadata and output shapes.

Supported families (``ModelInfo.family``):

* ``yolov8`` — ultralytics YOLOv8 / YOLO11 detection exports: one output (B, 4+C, N) of
  ``cx, cy, w, h`` in input pixels then C class scores, no objectness. RGB, 0-1, centred letterbox
  padded with 114. ultralytics writes ``names`` (a Python dict literal), ``imgsz``, ``stride`` and
  ``task`` into ``metadata_props``.
* ``yolov5`` — YOLOv5 exports: one output (B, N, 5+C) of ``cx, cy, w, h``, objectness, class
  scores, N = 3 anchors x grid points. Same preprocessing as yolov8.
* ``yolox`` — Megvii YOLOX raw grid head: one output (B, N, 5+C), N = grid points of strides
  8/16/32 (one per point; 3549 for 416x416). BGR 0-255 without normalisation, letterbox padded
  with 114 on the right/bottom only (``center=False``, as the official demo's ``preproc``).
* ``nanodet`` — NanoDet(-m) GFL head: per stride 8/16/32 a class tensor (N, C) and a box tensor
  (N, 4·(reg_max+1)); output names are not reliable, tensors are told apart by shape. BGR with
  mean (103.53, 116.28, 123.675) / std (57.375, 57.12, 58.395).

:func:`detect_model_info` reads an ``.onnx`` file; :func:`model_info_from_shapes` does the same
from plain shapes and metadata so other backends (TensorRT engines) can reuse the rules.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perception.errors import DetectorError
from perception.onnx_io import read_onnx, static_dim

Family = Literal["yolov8", "yolov5", "yolox", "nanodet"]
FAMILIES: tuple[str, ...] = ("yolov8", "yolov5", "yolox", "nanodet")

#: The 80 COCO class names in the order every COCO-trained detector here uses.
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

#: Feature strides of the grid heads (YOLOX, YOLOv5, NanoDet-m).
STRIDES: tuple[int, ...] = (8, 16, 32)

Shape = Sequence[int | str | None]


@dataclass(frozen=True)
class ModelInfo:
    """What a detector needs to know about a model to pre- and post-process for it.

    Attributes:
        family: output layout, one of :data:`FAMILIES`.
        input_size: (h, w) of the network input in pixels.
        class_names: one name per class id.
        channel_order: ``"bgr"`` or ``"rgb"`` channel order of the input tensor.
        mean, std: per-channel normalisation in input-tensor channel order, applied after
            ``scale``: ``x = (pixel * scale - mean) / std``.
        scale: pixel multiplier (1/255 for 0-1 inputs, 1.0 for 0-255 inputs).
        pad_value: grey level of the letterbox padding.
        dynamic_batch: whether the input batch axis is symbolic (any batch size).
        center: letterbox padding split evenly on both sides (True) or only right/bottom (YOLOX).
    """

    family: Family
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    channel_order: Literal["bgr", "rgb"] = "rgb"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1.0 / 255.0
    pad_value: int = 114
    dynamic_batch: bool = False
    center: bool = True

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise DetectorError(f"ModelInfo.family: expected one of {FAMILIES}, got {self.family!r}")
        if self.channel_order not in ("bgr", "rgb"):
            raise DetectorError(
                f"ModelInfo.channel_order: expected 'bgr' or 'rgb', got {self.channel_order!r}"
            )
        h, w = self.input_size
        if h <= 0 or w <= 0:
            raise DetectorError(f"ModelInfo.input_size: expected positive (h, w), got {self.input_size}")
        if any(s == 0 for s in self.std):
            raise DetectorError(f"ModelInfo.std: expected non-zero values, got {self.std}")

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return len(self.class_names)


_PREPROCESS: dict[str, dict[str, Any]] = {
    "yolov8": {"channel_order": "rgb", "scale": 1.0 / 255.0, "pad_value": 114, "center": True},
    "yolov5": {"channel_order": "rgb", "scale": 1.0 / 255.0, "pad_value": 114, "center": True},
    "yolox": {"channel_order": "bgr", "scale": 1.0, "pad_value": 114, "center": False},
    "nanodet": {
        "channel_order": "bgr",
        "scale": 1.0,
        "mean": (103.53, 116.28, 123.675),
        "std": (57.375, 57.12, 58.395),
        "pad_value": 0,
        "center": True,
    },
}


def _grid_points(h: int, w: int) -> int:
    """Number of anchor points of the stride 8/16/32 grids of an (h, w) input."""
    return sum(-(-h // s) * -(-w // s) for s in STRIDES)


def _parse_names(raw: str) -> tuple[str, ...]:
    """ultralytics' ``names`` metadata, a dict literal ``{0: 'person', ...}`` (never ``eval``)."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as exc:
        raise DetectorError(f"ONNX metadata 'names': not a Python literal: {raw[:80]!r}") from exc
    if isinstance(value, dict):
        return tuple(str(value[k]) for k in sorted(value))
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise DetectorError(f"ONNX metadata 'names': expected a dict or list, got {type(value).__name__}")


def _parse_imgsz(raw: str) -> tuple[int, int] | None:
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    return None


def _guess_family(outputs: list[Shape], hw: tuple[int, int] | None, ultralytics: bool, where: str) -> str:
    if len(outputs) >= 2:
        lasts = {static_dim(s[-1]) for s in outputs}
        if len(outputs) % 2 == 0 and len(lasts) == 2 and all(len(s) in (2, 3) for s in outputs):
            return "nanodet"
        raise DetectorError(f"{where}: cannot tell the model family from output shapes {outputs}")
    if not outputs or len(outputs[0]) != 3:
        raise DetectorError(f"{where}: expected one (B, rows, cols) output, got shapes {outputs}")
    _, a, b = (static_dim(d) for d in outputs[0])
    if ultralytics:
        return "yolov8"
    if a is not None and b is not None and a < b:
        return "yolov8"  # (B, 4+C, N)
    if hw is not None and a is not None:
        g = _grid_points(*hw)
        if a == g:
            return "yolox"
        if a == 3 * g:
            return "yolov5"
    raise DetectorError(
        f"{where}: cannot tell the model family from output shape {outputs[0]} and input size {hw}; "
        "pass family= in the detector config"
    )


def _num_classes(family: str, outputs: list[Shape]) -> int | None:
    if family == "yolov8":
        c = static_dim(outputs[0][1])
        return None if c is None else c - 4
    if family in ("yolov5", "yolox"):
        c = static_dim(outputs[0][2])
        return None if c is None else c - 5
    widths = sorted({static_dim(s[-1]) or 0 for s in outputs})
    # The box tensor has 4 * (reg_max + 1) columns (32 for NanoDet's reg_max 7); the other is classes.
    box = 32 if 32 in widths else min((w for w in widths if w % 4 == 0), default=0)
    others = [w for w in widths if w != box and w > 0]
    return others[0] if len(others) == 1 else None


def model_info_from_shapes(
    input_shape: Shape,
    output_shapes: Sequence[Shape],
    metadata: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    where: str = "model",
) -> ModelInfo:
    """A :class:`ModelInfo` from the image input shape (B, 3, h, w), output shapes and metadata.

    Dimensions may be ints or symbolic (str / None / -1); :func:`perception.onnx_io.static_dim`
    tells them apart. ``overrides`` keys are
    :class:`ModelInfo` field names and win over everything detected; an unknown key raises
    :class:`DetectorError` naming it.
    """
    metadata = dict(metadata or {})
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(ModelInfo)}
    unknown = sorted(k for k in overrides if k not in fields)
    if unknown:
        raise DetectorError(f"{where}: unknown model override {unknown[0]!r}; valid: {sorted(fields)}")
    if len(input_shape) != 4:
        raise DetectorError(f"{where}: expected an image input (B, 3, h, w), got shape {list(input_shape)}")
    hw: tuple[int, int] | None = None
    h, w = static_dim(input_shape[2]), static_dim(input_shape[3])
    if h is not None and w is not None:
        hw = (h, w)
    elif "imgsz" in metadata:
        hw = _parse_imgsz(metadata["imgsz"])
    if overrides.get("input_size") is not None:
        hw = tuple(int(v) for v in overrides["input_size"])  # type: ignore[assignment]
    if hw is None:
        raise DetectorError(f"{where}: input size is dynamic {list(input_shape)}; pass input_size=(h, w)")
    ultra = "names" in metadata or metadata.get("author", "").lower().startswith("ultralytics")
    if ultra and metadata.get("task", "detect") != "detect":
        raise DetectorError(
            f"{where}: ultralytics task {metadata['task']!r} is not supported; expected 'detect'"
        )
    family = overrides.get("family") or _guess_family(list(output_shapes), hw, ultra, where)
    if family not in FAMILIES:
        raise DetectorError(f"{where}: family: expected one of {FAMILIES}, got {family!r}")
    names: tuple[str, ...] | None = None
    if overrides.get("class_names") is not None:
        names = tuple(overrides["class_names"])
    elif "names" in metadata:
        names = _parse_names(metadata["names"])
    if names is None:
        n = _num_classes(family, list(output_shapes))
        if n == len(COCO_NAMES):
            names = COCO_NAMES
        elif n:
            names = tuple(f"class{i}" for i in range(n))
        else:
            raise DetectorError(f"{where}: cannot tell the number of classes; pass class_names")
    kwargs: dict[str, Any] = dict(_PREPROCESS[family])
    kwargs.update(family=family, input_size=hw, class_names=names,
                  dynamic_batch=static_dim(input_shape[0]) is None)
    kwargs.update({k: v for k, v in overrides.items() if v is not None and k not in ("class_names",)})
    kwargs["input_size"] = hw
    return ModelInfo(**kwargs)


def detect_model_info(onnx_path: str | Path, overrides: Mapping[str, Any] | None = None) -> ModelInfo:
    """The :class:`ModelInfo` of an ONNX detector, from its metadata and tensor shapes.

    ``overrides`` (``family``, ``input_size``, ``class_names``, any other field; ``None`` values
    ignored) win over what is detected. Raises :class:`DetectorError` naming the file if the
    file is missing or the family cannot be told.
    """
    path = Path(onnx_path)
    sig = read_onnx(path)
    outputs = [list(o) for o in sig.outputs]
    return model_info_from_shapes(sig.input_shape, outputs, sig.metadata, overrides, where=str(path))
