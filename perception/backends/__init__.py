"""Inference backends and the factory choosing one for a :class:`~perception.config.DetectorConfig`.

Backends: ``onnxruntime`` (:mod:`perception.backends.onnxruntime`), ``tensorrt``
(:mod:`perception.backends.tensorrt`) and ``ultralytics`` (:mod:`perception.backends.ultralytics`).
Only the chosen one is imported, so torch / tensorrt stay unimported unless asked for.

Conventions for the non-ONNX backend modules (so :func:`make_backend` can build them):

* a module-level ``create(config, info) -> Backend`` is called if present; otherwise the class
  (``TensorRTBackend`` / ``UltralyticsBackend``) is called with the model path plus those of
  ``device``, ``info``, ``config`` its constructor accepts;
* a module-level ``read_model_info(path, overrides) -> ModelInfo`` is used, if present, to read
  the model description of a non-ONNX file; otherwise the backend object's ``info`` attribute is.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from perception.backends.base import Backend, providers_for
from perception.config import DetectorConfig
from perception.errors import DetectorError
from perception.family import ModelInfo, detect_model_info, model_info_from_shapes

__all__ = ["Backend", "choose_backend", "make_backend", "model_info_for"]

_SUFFIX_BACKEND = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt", ".pt": "ultralytics"}
_MODULES = {
    "tensorrt": ("perception.backends.tensorrt", "TensorRTBackend"),
    "ultralytics": ("perception.backends.ultralytics", "UltralyticsBackend"),
}


def choose_backend(config: DetectorConfig) -> str:
    """The backend name for ``config``: ``config.backend`` or, for ``"auto"``, by file suffix."""
    if config.backend != "auto":
        return config.backend
    suffix = Path(config.model).suffix.lower()
    if suffix not in _SUFFIX_BACKEND:
        raise DetectorError(
            f"DetectorConfig.model: cannot pick a backend for suffix {suffix!r} of {config.model}; "
            f"expected one of {sorted(_SUFFIX_BACKEND)} or an explicit backend"
        )
    return _SUFFIX_BACKEND[suffix]


def model_info_for(config: DetectorConfig) -> ModelInfo | None:
    """The :class:`ModelInfo` of ``config.model`` with the config's overrides, or ``None`` if unknown yet.

    ONNX files are read by :func:`~perception.family.detect_model_info`; other files by the
    backend module's ``read_model_info`` if it has one. ``None`` means: ask the backend object.
    """
    path = Path(config.model)
    overrides = config.overrides()
    if path.suffix.lower() == ".onnx":
        return detect_model_info(path, overrides)
    name = choose_backend(config)
    if name in _MODULES:
        module = _import(name)
        reader = getattr(module, "read_model_info", None)
        if reader is not None:
            return reader(path, overrides)
    if {"family", "input_size", "class_names"} <= overrides.keys():
        h, w = overrides["input_size"]  # type: ignore[misc]
        return model_info_from_shapes((1, 3, h, w), [], None, overrides, where=str(path))
    return None


def _import(name: str) -> Any:
    module_name, _ = _MODULES[name]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise DetectorError(f"backend {name!r} is not available: {exc}") from exc


def make_backend(config: DetectorConfig, info: ModelInfo | None) -> Backend:
    """The inference backend for ``config`` (``info`` may be ``None`` for non-ONNX models)."""
    name = choose_backend(config)
    if name == "onnxruntime":
        from perception.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(config.model, providers=config.providers or providers_for(config.device),
                                  intra_op_threads=config.threads, allow_spinning=config.spin)
    if name not in _MODULES:
        raise DetectorError(f"DetectorConfig.backend: unknown backend {name!r}")
    module = _import(name)
    factory = getattr(module, "create", None)
    if factory is not None:
        return factory(config, info)
    cls = getattr(module, _MODULES[name][1])
    params = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in (("device", config.device), ("info", info), ("config", config)) if k in params}
    return cls(config.model, **kwargs)
