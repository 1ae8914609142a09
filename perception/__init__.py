"""Object detection: model families, preprocessing, decoding, NMS, tiling and inference backends."""

from perception.errors import DetectorError

__all__ = ["DetectorError"]
