"""The ``Backend`` protocol: what :class:`perception.detector.Detector` needs from an inference engine.

A backend runs one preprocessed batch through a model and returns the raw head outputs; decoding
and NMS stay in :mod:`perception.decode` / :mod:`perception.nms`, so every backend of the same model
yields the same detections.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


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
