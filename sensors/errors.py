"""Root exception of the ``sensors`` package."""

from __future__ import annotations

from percept.errors import PerceptError


class SensorError(PerceptError):
    """A sensor, file or stream could not be opened, read or decoded."""
