"""The ``Backend`` protocol: what :class:`perception.detector.Detector` needs from an inference engine.

A backend runs one preprocessed batch through a model and returns the raw head outputs; decoding
and NMS stay in :mod:`perception.decode` / :mod:`perception.nms`, so every backend of the same model
yields the same detections. The ``DetectorConfig.device`` strings are read here for every backend:
:func:`providers_for` (onnxruntime) and :func:`parse_cuda_device` (TensorRT).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from perception.errors import DetectorError


@runtime_checkable
class Backend(Protocol):
    """An inference engine holding one loaded model.

    Attributes:
        name: short backend name (``"onnxruntime"``, ``"tensorrt"``, ``"ultralytics"``).
        input_names: model input tensor names (the first is the image).
        output_names: model output tensor names, in the order :meth:`infer` returns them.
        max_batch: largest batch :meth:`infer` accepts (1 for fixed-batch models); the detector
            splits bigger batches.
    """

    name: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    max_batch: int

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run the model on ``batch`` float32 (B, 3, h, w), B <= ``max_batch``.

        Returns the raw outputs, one float32 array per output name, as the model produces them:
        batch first (B, ...). A fixed-batch-1 model whose outputs have no batch axis (NanoDet's
        (N, C) tensors) may return them as they are; the decoders treat a missing batch axis as B = 1.
        """
        ...

    def close(self) -> None:
        """Release the engine and its memory; the backend is unusable afterwards."""
        ...


def providers_for(device: str) -> tuple[Any, ...]:
    """onnxruntime execution providers for ``device``, best first.

    ``"cpu"`` → CPU; ``"cuda"``/``"cuda:N"`` → CUDA on GPU N, then CPU; ``"tensorrt"``/``"tensorrt:N"``
    → onnxruntime's TensorRT EP, then CUDA, then CPU. Missing providers are dropped by the backend.
    """
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "tensorrt"):
        raise DetectorError(
            f"DetectorConfig.device: expected 'cpu', 'cuda[:N]' or 'tensorrt[:N]', got {device!r}"
        )
    if kind == "cpu":
        return ("CPUExecutionProvider",)
    if index and not index.isdigit():
        raise DetectorError(f"DetectorConfig.device: expected a GPU number after ':', got {device!r}")
    opts = {"device_id": int(index or 0)}
    gpu: tuple[Any, ...] = (("CUDAExecutionProvider", opts), "CPUExecutionProvider")
    if kind == "tensorrt":
        return (("TensorrtExecutionProvider", opts), *gpu)
    return gpu


def parse_cuda_device(device: int | str) -> int:
    """CUDA device index from ``0``, ``"0"``, ``"cuda"``, ``"cuda:1"`` or ``"tensorrt:1"``."""
    if isinstance(device, int):
        return device
    text = device.strip().lower()
    if text in ("cuda", "gpu", "tensorrt"):
        return 0
    for prefix in ("cuda:", "gpu:", "tensorrt:"):
        text = text.removeprefix(prefix)
    if not text.isdigit():
        raise DetectorError(f"device: expected 'cuda', 'cuda:N' or an index for TensorRT, got {device!r}")
    return int(text)
