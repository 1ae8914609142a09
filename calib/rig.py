"""The calibrated sensor rig: camera intrinsics by frame name and the extrinsic frame tree.

A leaf of ``calib``: the file formats (:mod:`calib.formats`) read and write rigs, and KITTI
calibrations (:mod:`calib.kitti`) build them, without either importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calib.camera import CameraModel
from calib.errors import CalibrationError
from calib.transform import FrameTree

#: Version of the percept calibration YAML (see :mod:`calib.formats`); only 1 exists.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Rig:
    """A calibrated sensor rig: camera intrinsics keyed by frame name, and the frame tree.

    Every camera's name is also a frame of ``tree`` (added on construction if missing).
    """

    cameras: dict[str, CameraModel] = field(default_factory=dict)
    tree: FrameTree = field(default_factory=FrameTree)
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name in self.cameras:
            self.tree.add_frame(name)

    def camera(self, name: str) -> CameraModel:
        """The camera of frame ``name``; CalibrationError listing the known cameras if absent."""
        try:
            return self.cameras[name]
        except KeyError:
            raise CalibrationError(
                f"no camera {name!r} in the rig (cameras: {', '.join(self.cameras) or 'none'})"
            ) from None
