"""Root exception of the ``perception`` package."""

from __future__ import annotations

from percept.errors import PerceptError


class DetectorError(PerceptError):
    """A model, backend or detector input is invalid or failed; the message says which."""
