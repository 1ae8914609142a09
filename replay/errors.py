"""Root exception of the ``replay`` package."""

from __future__ import annotations

from percept.errors import PerceptError


class LogError(PerceptError):
    """A log file is missing, truncated or corrupt; the message names the file and byte offset."""
