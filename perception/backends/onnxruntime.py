"""onnxruntime backend: runs an ONNX detector on the CPU, CUDA or TensorRT execution providers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perception.errors import DetectorError
from perception.onnx_io import static_dim

log = logging.getLogger(__name__)

Provider = str | tuple[str, dict[str, Any]]


class OnnxRuntimeBackend:
    """An ``onnxruntime.InferenceSession`` behind the :class:`~perception.backends.base.Backend` protocol.

    Providers that are asked for but not installed are dropped with a warning (the CPU provider
    is always the last resort). A model with a fixed batch axis of 1 has ``max_batch == 1``; a
    model with another fixed batch B is fed exactly B images (``max_batch == B``, short batches
    padded with zeros and the padding dropped from the outputs); a dynamic batch axis allows any
    batch (``max_batch`` = ``dynamic_max_batch``).
    ``allow_spinning`` is onnxruntime's ``session.intra_op.allow_spinning`` (worker threads
    busy-wait between runs; :attr:`~perception.config.DetectorConfig.spin`, off by default).
    """

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[Provider] | None = None,
        intra_op_threads: int | None = None,
        dynamic_max_batch: int = 64,
        allow_spinning: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise DetectorError(f"{self.path}: ONNX model not found")
        available = set(ort.get_available_providers())
        wanted = list(providers) if providers else ["CPUExecutionProvider"]
        chosen: list[Provider] = []
        for p in wanted:
            pname = p if isinstance(p, str) else p[0]
            if pname in available:
                chosen.append(p)
            else:
                log.warning("onnxruntime provider %s is not available here (have %s); skipped",
                            pname, sorted(available))
        if not any((p if isinstance(p, str) else p[0]) == "CPUExecutionProvider" for p in chosen):
            chosen.append("CPUExecutionProvider")
        opts = ort.SessionOptions()
        if intra_op_threads is not None:
            opts.intra_op_num_threads = int(intra_op_threads)
        # onnxruntime's own key: busy-waiting worker threads between runs (its default is on)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            raise DetectorError(f"{self.path}: onnxruntime cannot load the model: {exc}") from exc
        inputs = self._session.get_inputs()
        self.input_names: tuple[str, ...] = tuple(i.name for i in inputs)
        self.output_names: tuple[str, ...] = tuple(o.name for o in self._session.get_outputs())
        self.input_shape: tuple[int | str | None, ...] = tuple(inputs[0].shape)
        self.fixed_batch: int | None = static_dim(self.input_shape[0]) if self.input_shape else None
        self.max_batch: int = self.fixed_batch or int(dynamic_max_batch)
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run ``batch`` float32 (B, 3, h, w), B <= ``max_batch``; returns the raw outputs in
        ``output_names`` order (batch first, except 2-D outputs of a batch-1 model)."""
        if self._session is None:
            raise DetectorError(f"{self.path}: backend is closed")
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise DetectorError(f"{self.path}: expected input batch (B, 3, h, w), got shape {batch.shape}")
        n = batch.shape[0]
        if n > self.max_batch:
            raise DetectorError(f"{self.path}: batch of {n} exceeds max_batch {self.max_batch}")
        feed = np.ascontiguousarray(batch, dtype=np.float32)
        if self.fixed_batch is not None and n < self.fixed_batch:
            pad = np.zeros((self.fixed_batch - n, *feed.shape[1:]), np.float32)
            feed = np.concatenate([feed, pad])
        try:
            outputs = self._session.run(list(self.output_names), {self.input_names[0]: feed})
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            raise DetectorError(f"{self.path}: inference failed for input {feed.shape}: {exc}") from exc
        if self.fixed_batch is not None and n < self.fixed_batch:
            outputs = [o[:n] if o.ndim >= 3 else o for o in outputs]
        return [np.asarray(o) for o in outputs]

    def close(self) -> None:
        """Drop the session (and its memory)."""
        self._session = None
