"""Calibration: camera models, rigid transforms, frame trees and calibration file formats."""

from calib.camera import CameraModel
from calib.errors import CalibrationError
from calib.formats import (
    load_opencv_yaml,
    load_percept_yaml,
    load_ros_camera_info,
    save_percept_yaml,
)
from calib.kitti import KittiCalib, box3d_corners, load_kitti_calib, read_velodyne_bin
from calib.overlay import lidar_overlay, write_overlay
from calib.rig import Rig
from calib.transform import FrameTree, Transform

__all__ = [
    "CalibrationError",
    "CameraModel",
    "FrameTree",
    "KittiCalib",
    "Rig",
    "Transform",
    "box3d_corners",
    "lidar_overlay",
    "load_kitti_calib",
    "load_opencv_yaml",
    "load_percept_yaml",
    "load_ros_camera_info",
    "read_velodyne_bin",
    "save_percept_yaml",
    "write_overlay",
]
