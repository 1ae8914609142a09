"""Sensor drivers (camera, lidar, radar), dataset sources and the multi-sensor simulator."""

from sensors.errors import SensorError

__all__ = ["SensorError"]
