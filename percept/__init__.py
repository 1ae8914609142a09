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
from percept.messages import (
    Detections2D,
    Detections3D,
    Event,
    Image,
    NodeStats,
    PointCloud,
    Pose,
    RadarScan,
    Severity,
    Tracks,
    TrackStatus,
)

__version__ = "0.1.0"

__all__ = [
    "BusError",
    "CodecLimits",
    "ConfigError",
    "Control",
    "DecodeError",
    "Detections",
    "Detections2D",
    "Detections3D",
    "Envelope",
    "Event",
    "GraphError",
    "Image",
    "Message",
    "MessageError",
    "NodeStats",
    "PerceptError",
    "PointCloud",
    "Pose",
    "RadarScan",
    "Severity",
    "TrackStatus",
    "Tracks",
    "decode",
    "encode",
]
