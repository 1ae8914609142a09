"""The one way to reach the shared, read-only research data and models.

Where the data folder is, first match wins:

1. ``$PERCEPT_DATA``;
2. ``../shared/data`` beside the project root, but only when ``percept`` runs from a source
   checkout (a ``pyproject.toml`` beside the package folder; an editable install counts);
3. nowhere: an installed wheel has no project root, so :class:`DataNotFound` says to set
   ``PERCEPT_DATA``.

Models: ``$PERCEPT_MODELS``, else ``models`` beside the data folder. The data are for research and
evaluation only and never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from percept.errors import PerceptError

#: The folder that holds the ``percept`` package: the project root in a source checkout,
#: ``site-packages`` (or similar) in an installed wheel. Read at call time (tests may point it
#: elsewhere).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DataNotFound(PerceptError, FileNotFoundError):
    """A shared data file or folder is not on this machine, or where it is cannot be known."""


def checkout_root() -> Path | None:
    """:data:`PROJECT_ROOT` when it is a source checkout (has ``pyproject.toml``), else ``None``."""
    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else None


def data_dir() -> Path:
    """Root of the shared data (``$PERCEPT_DATA``, or ``../shared/data`` from a checkout).

    Raises:
        DataNotFound: ``PERCEPT_DATA`` is unset and percept is not running from a checkout.
    """
    env = os.environ.get("PERCEPT_DATA")
    if env:
        return Path(env)
    root = checkout_root()
    if root is None:
        raise DataNotFound(f"shared data: PERCEPT_DATA is not set and percept is installed, not run from "
                           f"a source checkout ({PROJECT_ROOT} has no pyproject.toml); set PERCEPT_DATA "
                           "to the shared data folder")
    return root.parent / "shared" / "data"


def models_dir() -> Path:
    """Root of the shared models (``$PERCEPT_MODELS``, or ``models`` beside the data root).

    Raises:
        DataNotFound: neither ``PERCEPT_MODELS`` nor a data root (see :func:`data_dir`) is known.
    """
    env = os.environ.get("PERCEPT_MODELS")
    if env:
        return Path(env)
    try:
        return data_dir().parent / "models"
    except DataNotFound as exc:
        raise DataNotFound(f"shared models: PERCEPT_MODELS is not set and {exc}; or set PERCEPT_MODELS "
                           "to the models folder") from exc


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
