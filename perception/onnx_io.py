"""An ONNX model's inputs, outputs and metadata, read without loading weights: the one ONNX shape reader.

Dimensions come back as ``int`` (a fixed size > 0), ``str`` (a symbolic name such as ``"batch"``)
or ``None`` (unset); :func:`static_dim` is the one rule that tells a fixed dimension from a
dynamic one (symbolic, unset, 0 or TensorRT's -1 all count as dynamic). The model family reader
(:mod:`perception.family`), the TensorRT profile (:mod:`perception.backends.trt_engine`), the
onnxruntime backend and the detect benchmark all use these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perception.errors import DetectorError

Dim = int | str | None
Shape = tuple[Dim, ...]


def static_dim(dim: Dim) -> int | None:
    """``dim`` when it is a fixed size (an ``int`` > 0), else ``None`` (symbolic, unset, 0 or -1)."""
    return dim if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 else None


def _proto_dim(d: Any) -> Dim:
    """An ``onnx.TensorShapeProto.Dimension`` as a :data:`Dim` (a 0 ``dim_value`` counts as unset)."""
    if d.HasField("dim_value") and d.dim_value > 0:
        return int(d.dim_value)
    return d.dim_param or None


def _ort_dim(d: Any) -> Dim:
    """An onnxruntime ``NodeArg.shape`` entry (int, str or None) as a :data:`Dim`."""
    if isinstance(d, int):
        return d if d > 0 else None
    return d or None


@dataclass(frozen=True)
class OnnxSignature:
    """Graph inputs (initializers excluded), outputs and ``metadata_props`` of an ONNX model.

    Attributes:
        inputs: input name → shape, in graph order (the first one is the image input).
        outputs: output shapes, in graph order.
        metadata: the model's metadata key/value pairs (e.g. ultralytics' ``names``, ``imgsz``).
    """

    inputs: dict[str, Shape]
    outputs: tuple[Shape, ...]
    metadata: dict[str, str]

    @property
    def input_name(self) -> str:
        """Name of the first (image) input."""
        return next(iter(self.inputs))

    @property
    def input_shape(self) -> Shape:
        """Shape of the first (image) input, e.g. ``(1, 3, 416, 416)`` or ``("batch", 3, 640, 640)``."""
        return self.inputs[self.input_name]

    @property
    def fixed_batch(self) -> int | None:
        """The image input's batch size when it is fixed, ``None`` for a dynamic batch axis."""
        shape = self.input_shape
        return static_dim(shape[0]) if shape else None


def _read_with_onnx(onnx: Any, path: Path) -> OnnxSignature:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError... for a bad file
        raise DetectorError(f"{path}: not a readable ONNX model: {exc}") from exc
    inits = {i.name for i in model.graph.initializer}

    def shape(vi: Any) -> Shape:
        return tuple(_proto_dim(d) for d in vi.type.tensor_type.shape.dim)

    return OnnxSignature({i.name: shape(i) for i in model.graph.input if i.name not in inits},
                         tuple(shape(o) for o in model.graph.output),
                         {p.key: p.value for p in model.metadata_props})


def _read_with_onnxruntime(path: Path) -> OnnxSignature:
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise DetectorError(f"{path}: not a readable ONNX model: {exc}") from exc
    return OnnxSignature({i.name: tuple(_ort_dim(d) for d in i.shape) for i in sess.get_inputs()},
                         tuple(tuple(_ort_dim(d) for d in o.shape) for o in sess.get_outputs()),
                         dict(sess.get_modelmeta().custom_metadata_map))


def read_onnx(path: str | Path) -> OnnxSignature:
    """The :class:`OnnxSignature` of the ONNX file ``path`` (with ``onnx``, else onnxruntime).

    Raises :class:`DetectorError` naming the file when it is missing, unreadable or has no input.
    """
    path = Path(path)
    if not path.is_file():
        raise DetectorError(f"{path}: model file not found")
    try:
        import onnx
    except ImportError:
        sig = _read_with_onnxruntime(path)
    else:
        sig = _read_with_onnx(onnx, path)
    if not sig.inputs:
        raise DetectorError(f"{path}: model has no input")
    return sig
