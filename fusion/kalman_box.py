"""What the single-box Kalman motion models share (:mod:`fusion.motion`, :mod:`fusion.motion3d`).

Each model holds one ``filterpy.kalman.KalmanFilter`` as ``kf`` whose state is a column (n, 1);
the layout and units of the state are the subclass's (see its docstring).
"""

from __future__ import annotations

import math

import numpy as np
from filterpy.kalman import KalmanFilter

from fusion.errors import TrackingError


class KalmanBoxModel:
    """Base of one box's Kalman filter: state read-outs and the time-step check of ``predict``."""

    kf: KalmanFilter

    @property
    def mean(self) -> np.ndarray:
        """(n,) copy of the state vector (layout and units: see the subclass)."""
        return self.kf.x[:, 0].copy()

    @property
    def covariance(self) -> np.ndarray:
        """(n, n) copy of the state covariance."""
        return self.kf.P.copy()

    def _steps(self, dt_s: float) -> bool:
        """Whether ``predict(dt_s)`` has to move the state: False for 0; raises
        :class:`TrackingError` unless ``dt_s`` is finite and >= 0 seconds."""
        if not math.isfinite(dt_s) or dt_s < 0:
            raise TrackingError(f"{type(self).__name__}.predict: dt must be finite and >= 0 s, got {dt_s}")
        return dt_s != 0
