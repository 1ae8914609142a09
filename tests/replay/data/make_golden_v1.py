"""How ``golden_v1_detections3d.mcap`` was made (at commit c432fb7, Detections3D schema v1).

Synthetic data only: two cars driving along z in a KITTI-style camera frame (y down), 20 frames
at 10 Hz, published on ``kitti/det_pointrcnn`` as the v1 ``Detections3D`` (with ``score``), plus
one 2D ``Detections2D`` message, written by the recorder of that commit. Kept for the record;
running it on a later commit writes the current schema, not v1.
"""

import sys

import numpy as np

from percept import Detections, Detections2D
from percept.messages import Detections3D
from replay.log import LogWriter

with LogWriter(sys.argv[1]) as w:
    for k in range(20):
        t = k * 100_000_000
        centre = np.array([[-3.0, 1.5, 10.0 + 1.0 * k], [2.5, 1.6, 30.0 - 0.5 * k]], np.float32)
        size = np.array([[4.2, 1.8, 1.5], [3.9, 1.7, 1.6]], np.float32)
        msg = Detections3D(stamp_ns=t, frame_id="camera_left", seq=k, centre=centre, size=size,
                           yaw=np.array([-1.57, 1.57], np.float32), class_id=np.array([1, 1], np.int32),
                           score=np.array([7.5, 5.25], np.float32),
                           class_names=("Pedestrian", "Car", "Cyclist"))
        w.write("kitti/det_pointrcnn", msg.to_frames("kitti/det_pointrcnn"), t)
    d2 = Detections2D(stamp_ns=0, frame_id="camera", seq=0,
                      detections=Detections([[10, 20, 110, 220]], [0.9], [0]), class_names=("person",))
    w.write("camera/detections", d2.to_frames("camera/detections"), 0)
