"""Root exception of the ``calib`` package."""

from __future__ import annotations

from percept.errors import PerceptError


class CalibrationError(PerceptError, ValueError):
    """A calibration file, model or procedure is invalid; the message names the file and key."""
