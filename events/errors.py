"""Root exception of the ``events`` package."""

from __future__ import annotations

from percept.errors import PerceptError


class EventsError(PerceptError, ValueError):
    """A scene config, rule, sink or event input is invalid; the message names the key and why."""


class SinkError(EventsError):
    """An event sink cannot be configured or has failed permanently."""
