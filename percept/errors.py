"""Exception hierarchy of the ``percept`` runtime package.

Everything raised on purpose by ``percept`` derives from :class:`PerceptError`, so callers can
catch one root. Subclasses say which layer refused the input.
"""

from __future__ import annotations


class PerceptError(Exception):
    """Root of every error raised on purpose by the ``percept`` package."""


class MessageError(PerceptError, ValueError):
    """A message was built with fields that break its contract (shape, dtype, range)."""


class DecodeError(PerceptError):
    """Bytes from a socket or a file could not be decoded into a valid message.

    Raised for truncated or malformed frames, unknown schemas, unsupported versions, disallowed
    dtypes, shape/size mismatches and sizes over the configured cap.
    """


class BusError(PerceptError):
    """A socket could not be bound, connected or used as asked."""


class ConfigError(PerceptError, ValueError):
    """A configuration file or mapping is invalid; the message names the offending key."""


class GraphError(ConfigError):
    """A graph description cannot be launched (unknown node type, unwired topic, ...)."""


class UnwiredTopicError(GraphError):
    """A node subscribes to a topic that no node of the graph publishes and no ``external`` entry
    declares (raised by strict graph validation, ``percept run --strict``)."""
