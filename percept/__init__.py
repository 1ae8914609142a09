"""percept: real-time perception runtime (messages, codec, bus, nodes, launcher, CLI)."""

from percept.codec import CodecLimits, Envelope, decode, encode
from percept.control import Control
from percept.detections import Detections
from percept.errors import (
    BusError,
    ConfigError,
    DecodeError,
    GraphError,
    MessageError,
    PerceptError,
)
from percept.message import Message
from percept.messages import *  # noqa: F403  (the message types, re-exported as they list them)
from percept.messages import __all__ as _MESSAGE_TYPES

__version__ = "0.1.0"

__all__ = [
    *_MESSAGE_TYPES,
    "BusError",
    "CodecLimits",
    "ConfigError",
    "Control",
    "DecodeError",
    "Detections",
    "Envelope",
    "GraphError",
    "Message",
    "MessageError",
    "PerceptError",
    "decode",
    "encode",
]
