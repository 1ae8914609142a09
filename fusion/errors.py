"""Root exception of the ``fusion`` package."""

from __future__ import annotations

from percept.errors import PerceptError


class TrackingError(PerceptError, ValueError):
    """Tracker input or configuration is invalid; the message says which field and why."""
