"""KITTI calibration (object and tracking benchmarks), velodyne scans and 3D label boxes.

Frames (KITTI's own): ``velo`` (x forward, y left, z up, metres); ``cam0`` the unrectified left
grey camera; ``rect`` the rectified camera-0 frame (x right, y down, z forward) in which KITTI
labels live. ``P_i`` (3, 4) projects rect-frame points into the rectified image of camera i:
``P_i = K_i [I | t_i]``, so camera i's rectified frame is the rect frame shifted by ``t_i``.

File variants read by :func:`load_kitti_calib`: object (``P0: ...``, ``R0_rect``,
``Tr_velo_to_cam``, ``Tr_imu_to_velo``) and tracking (``P0 ...`` without the colon, ``R_rect``,
``Tr_velo_cam``, ``Tr_imu_velo``); View-of-Delft's KITTI-like files (empty ``Tr_imu_to_velo``)
too. Matrices are stored with ~7 significant digits, so rotations are checked with tolerance
1e-5 and snapped to exact rotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calib.camera import CameraModel
from calib.errors import CalibrationError
from calib.rig import Rig
from calib.transform import FrameTree, Transform, check_rotation, orthonormalize

KITTI_ROTATION_TOL = 1e-5
KITTI_CAMERA_FRAME = "camera_0"
"""Frame id of KITTI's rectified camera-0 frame (``rect``: x right, y down, z forward, metres), the
frame of KITTI labels and PointRCNN boxes: the root camera of :meth:`KittiCalib.rig`'s tree, whose
rectified cameras 1..3 are ``camera_1``..``camera_3``. Logs imported before it was named here carry
``camera_left`` for the same frame; nothing keys on the name."""
_ALIASES = {
    "R_rect": "R0_rect",
    "Tr_velo_cam": "Tr_velo_to_cam",
    "Tr_imu_velo": "Tr_imu_to_velo",
}
_SIZES = {"P0": 12, "P1": 12, "P2": 12, "P3": 12, "R0_rect": 9, "Tr_velo_to_cam": 12, "Tr_imu_to_velo": 12}
_REQUIRED = ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam")


@dataclass(frozen=True)
class KittiCalib:
    """One KITTI calibration file.

    ``P``: four (3, 4) projection matrices (rect frame -> rectified image i); ``R0_rect`` (3, 3)
    cam0 -> rect; ``Tr_velo_to_cam`` (3, 4) velo -> cam0; ``Tr_imu_to_velo`` (3, 4) imu -> velo,
    or None when the file leaves it empty.
    """

    P: list[np.ndarray]
    R0_rect: np.ndarray
    Tr_velo_to_cam: np.ndarray
    Tr_imu_to_velo: np.ndarray | None
    source: str = ""

    def _cam(self, i: int) -> np.ndarray:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.P):
            raise CalibrationError(f"{self.source}: no camera {i!r} (KITTI has cameras 0..{len(self.P) - 1})")
        return self.P[i]

    def camera(self, i: int, width: int, height: int) -> CameraModel:
        """The rectified camera i (no distortion) with ``K = P_i[:, :3]`` and the given image size."""
        try:
            return CameraModel(width=width, height=height, K=self._cam(i)[:, :3], dist=np.zeros(0))
        except CalibrationError as exc:
            raise CalibrationError(f"{self.source}: P{i}: {exc}") from exc

    def rect_to_camera(self, i: int) -> Transform:
        """``T_camera_i_from_rect``: a pure translation ``t_i = K_i^-1 P_i[:, 3]``."""
        P = self._cam(i)
        return Transform(np.eye(3), np.linalg.solve(P[:, :3], P[:, 3]))

    def velo_to_rect(self) -> Transform:
        """``T_rect_from_velo = R0_rect @ Tr_velo_to_cam``."""
        R0 = Transform(self.R0_rect, np.zeros(3))
        return R0 @ Transform.from_matrix(self.Tr_velo_to_cam, KITTI_ROTATION_TOL)

    def rig(self, width: int, height: int) -> Rig:
        """A :class:`calib.rig.Rig`: frames ``lidar_top`` (root), ``camera_0``..``camera_3``
        (rectified cameras; ``camera_0`` is the rect frame, :data:`KITTI_CAMERA_FRAME`) and ``imu``
        (if calibrated); all cameras get the same image size."""
        tree = FrameTree()
        tree.add("lidar_top", KITTI_CAMERA_FRAME, self.velo_to_rect().inverse())
        for i in range(1, len(self.P)):
            tree.add(KITTI_CAMERA_FRAME, f"camera_{i}", self.rect_to_camera(i).inverse())
        if self.Tr_imu_to_velo is not None:
            tree.add("lidar_top", "imu", Transform.from_matrix(self.Tr_imu_to_velo, KITTI_ROTATION_TOL))
        cameras = {f"camera_{i}": self.camera(i, width, height) for i in range(len(self.P))}
        return Rig(cameras=cameras, tree=tree)

    def project_rect(self, points_rect: np.ndarray, cam: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Project (N, 3) rect-frame points with ``P_cam``: ``(uv (N, 2) pixels, depth (N,) metres)``.

        ``depth`` is z in camera ``cam``'s frame; rows with ``depth <= 0`` get NaN pixels.
        """
        pts = np.asarray(points_rect, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise CalibrationError(f"project: expected (N, 3) points, got shape {pts.shape}")
        P = self._cam(cam)
        uvw = pts[:, :3] @ P[:, :3].T + P[:, 3]
        depth = uvw[:, 2].copy()
        uv = np.full((pts.shape[0], 2), np.nan)
        front = depth > 0
        uv[front] = uvw[front, :2] / depth[front, None]
        return uv, depth

    def project_velo(self, points: np.ndarray, cam: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Project (N, 3+) velodyne points into rectified image ``cam``: ``(uv (N, 2), depth (N,))``.

        Extra columns (reflectance) are ignored; points behind the camera get NaN pixels.
        """
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise CalibrationError(f"project_velo: expected (N, 3+) points, got shape {pts.shape}")
        return self.project_rect(self.velo_to_rect().apply(pts[:, :3].astype(np.float64)), cam)


def load_kitti_calib(path: Path | str) -> KittiCalib:
    """Parse a KITTI object or tracking calibration file; CalibrationError names file and key."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read ({exc})") from exc
    values: dict[str, np.ndarray | None] = {}
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        key, sep, rest = line.partition(":")
        if not sep or " " in key.strip():
            key, _, rest = line.partition(" ")
        key = _ALIASES.get(key.strip(), key.strip())
        if key not in _SIZES:
            continue  # e.g. the raw-data calib_time line
        try:
            nums = np.array([float(x) for x in rest.split()], dtype=np.float64)
        except ValueError as exc:
            raise CalibrationError(f"{path}: {key} (line {lineno}): not numbers ({exc})") from exc
        if nums.size == 0 and key == "Tr_imu_to_velo":
            values[key] = None
            continue
        if nums.size != _SIZES[key]:
            raise CalibrationError(f"{path}: {key}: expected {_SIZES[key]} numbers, got {nums.size}")
        if not np.all(np.isfinite(nums)):
            raise CalibrationError(f"{path}: {key}: contains non-finite values")
        values[key] = nums
    for key in _REQUIRED:
        if key not in values:
            raise CalibrationError(f"{path}: {key}: missing required key")
    P = [values[f"P{i}"].reshape(3, 4) for i in range(4)]  # type: ignore[union-attr]
    for i, Pi in enumerate(P):
        if Pi[0, 0] <= 0 or Pi[1, 1] <= 0:
            raise CalibrationError(
                f"{path}: P{i}: focal lengths must be positive, got {Pi[0, 0]}, {Pi[1, 1]}"
            )
    R0 = check_rotation(values["R0_rect"].reshape(3, 3), KITTI_ROTATION_TOL, f"{path}: R0_rect")  # type: ignore[union-attr]
    tr_velo = values["Tr_velo_to_cam"].reshape(3, 4)  # type: ignore[union-attr]
    check_rotation(tr_velo[:, :3], KITTI_ROTATION_TOL, f"{path}: Tr_velo_to_cam")
    imu = values.get("Tr_imu_to_velo")
    tr_imu = None if imu is None else imu.reshape(3, 4)
    if tr_imu is not None:
        check_rotation(tr_imu[:, :3], KITTI_ROTATION_TOL, f"{path}: Tr_imu_to_velo")
    return KittiCalib(
        P=P, R0_rect=orthonormalize(R0), Tr_velo_to_cam=tr_velo, Tr_imu_to_velo=tr_imu, source=str(path)
    )


def read_velodyne_bin(path: Path | str) -> np.ndarray:
    """Read a KITTI velodyne scan: (N, 4) float32 ``x, y, z`` (metres, velo frame), reflectance."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) % 16:
        raise CalibrationError(f"{path}: size {len(raw)} bytes is not a multiple of 16 (4 float32 per point)")
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 4).copy()


def box3d_corners(h: float, w: float, l: float, x: float, y: float, z: float, ry: float) -> np.ndarray:  # noqa: E741
    """The 8 corners (8, 3) of a KITTI label box in the rect frame.

    ``h, w, l`` metres; ``(x, y, z)`` the bottom-face centre; ``ry`` the yaw about the rect y
    axis (radians, 0 = facing the camera x axis). Corners 0-3 are the bottom face.
    """
    xs = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * (l / 2.0)
    ys = np.array([0, 0, 0, 0, -1, -1, -1, -1]) * h
    zs = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * (w / 2.0)
    c, s = np.cos(ry), np.sin(ry)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return np.stack([xs, ys, zs], axis=1) @ R.T + np.array([x, y, z])
