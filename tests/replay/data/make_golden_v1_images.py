"""How ``golden_v1_images.mcap`` was made (at commit ec31201, Image schema v1).

Synthetic data only: four 32x24 frames on ``camera/front/image`` at 10 Hz (bgr8, a grey ramp
with the frame number in pixel (0, 0)), written by that commit's LogWriter.
Kept for the record; running it on a later commit writes the current schema, not v1.
"""

import sys

import numpy as np

from percept.messages import Image
from replay.log import LogWriter

with LogWriter(sys.argv[1]) as w:
    for k in range(4):
        t = k * 100_000_000
        bgr = np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (24, 1, 3))
        bgr[0, 0] = k
        msg = Image.from_bgr(bgr, stamp_ns=t, frame_id="camera_front", seq=k)
        w.write("camera/front/image", msg.to_frames("camera/front/image"), t)
