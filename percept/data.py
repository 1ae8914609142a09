"""The one way to reach the shared, read-only research data and models.

``PERCEPT_DATA`` points at the data folder (default ``../shared/data`` from the project root);
models sit in ``PERCEPT_MODELS`` (default: ``models`` beside the data folder). The data are for
research and evaluation only and never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from percept.errors import PerceptError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DataNotFound(PerceptError, FileNotFoundError):
    """A shared data file or folder is not on this machine."""


def data_dir() -> Path:
    """Root of the shared data (``$PERCEPT_DATA`` or ``../shared/data``)."""
    env = os.environ.get("PERCEPT_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def models_dir() -> Path:
    """Root of the shared models (``$PERCEPT_MODELS`` or ``models`` beside the data root)."""
    env = os.environ.get("PERCEPT_MODELS")
    return Path(env) if env else data_dir().parent / "models"


def data_path(*parts: str) -> Path:
    """A path under :func:`data_dir`; raises :class:`DataNotFound` naming it if missing."""
    p = data_dir().joinpath(*parts)
    if not p.exists():
        raise DataNotFound(f"shared data not found: {p} (set PERCEPT_DATA)")
    return p


def model_path(name: str) -> Path:
    """A model file under :func:`models_dir`; raises :class:`DataNotFound` if missing."""
    p = models_dir() / name
    if not p.exists():
        raise DataNotFound(f"shared model not found: {p} (set PERCEPT_MODELS)")
    return p
