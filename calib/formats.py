"""Calibration file formats: percept YAML (native), ROS camera_info, OpenCV FileStorage, KITTI.

Percept calibration YAML, ``version: 1``
=========================================

One file describes a sensor rig: camera intrinsics, the extrinsic frame tree and clock offsets::

    version: 1                      # required; only 1 exists
    cameras:                        # optional; keyed by the camera's frame name
      camera_front:
        width: 1920                 # pixels, > 0
        height: 1080
        model: pinhole              # pinhole (OpenCV radtan) | fisheye (OpenCV Kannala-Brandt)
        K: [[1000, 0, 960], [0, 1000, 540], [0, 0, 1]]   # 3x3 rows, or 9 numbers row-major
        dist: [-0.1, 0.01, 0, 0, 0] # pinhole: 0/4/5/8/12/14 numbers; fisheye: 4 (k1..k4)
    transforms:                     # optional; a tree: every child has exactly one parent
      - parent: base_link
        child: camera_front
        translation: [1.5, 0.0, 1.2]          # metres, child origin in the parent frame
        rotation: [-0.5, 0.5, -0.5, 0.5]      # quaternion [x, y, z, w], or a 3x3 matrix
    time_offsets_ns:                # optional; sensor stamp + offset = common clock, integer ns
      camera_front: -12000000

Each transform is ``T_parent_from_child`` (maps child-frame points into the parent frame).
Camera frames: x right, y down, z forward. Rotations must be orthonormal within 1e-6 (a
quaternion's norm must be 1 within 1e-5). Every error names the file and the key, e.g.
``cam.yaml: cameras.front.K: expected 9 numbers, got 8``. :func:`save_percept_yaml` writes K as
3x3 rows and rotations as quaternions.

Other readers: :func:`load_ros_camera_info` (ROS ``camera_calibration_parsers`` YAML or a dumped
``sensor_msgs/CameraInfo``), :func:`load_opencv_yaml` (``cv2.FileStorage`` output of OpenCV's
calibration samples) and :func:`load_kitti_calib` (KITTI object / tracking, in ``calib.kitti``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from calib.camera import CameraModel
from calib.errors import CalibrationError
from calib.kitti import KittiCalib, load_kitti_calib
from calib.rig import FORMAT_VERSION, Rig
from calib.transform import ROTATION_TOL, FrameTree, Transform, check_rotation, quaternion_to_matrix
from percept.config import load_yaml
from percept.errors import ConfigError

__all__ = [
    "FORMAT_VERSION",
    "KittiCalib",
    "Rig",
    "load_kitti_calib",
    "load_opencv_yaml",
    "load_percept_yaml",
    "load_ros_camera_info",
    "save_percept_yaml",
]

_TOP_KEYS = {"version", "cameras", "transforms", "time_offsets_ns"}
_CAMERA_KEYS = {"width", "height", "model", "K", "dist"}
_TRANSFORM_KEYS = {"parent", "child", "translation", "rotation"}


# ---------------------------------------------------------------------------------- helpers
def _fail(path: Path | str, key: str, msg: str) -> CalibrationError:
    return CalibrationError(f"{path}: {key}: {msg}")


def _read_yaml(path: Path | str, first_document: bool = False) -> Any:
    """Parse a YAML file (:func:`percept.config.load_yaml`); ``first_document`` takes the first
    of a ``---``-separated stream. Errors name the file (and the line of a syntax error)."""
    try:
        return load_yaml(path, first_document=first_document)
    except ConfigError as exc:
        raise CalibrationError(str(exc)) from exc


def _mapping(value: Any, path: Path | str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
    return value


def _get(m: Mapping[str, Any], name: str, path: Path | str, key: str) -> Any:
    if name not in m:
        raise _fail(path, f"{key}.{name}" if key else name, "missing required key")
    return m[name]


def _unknown(m: Mapping[str, Any], allowed: set[str], path: Path | str, key: str) -> None:
    extra = sorted(str(k) for k in m if k not in allowed)
    if extra:
        where = f"{key}.{extra[0]}" if key else extra[0]
        raise _fail(path, where, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _numbers(
    value: Any, path: Path | str, key: str, n: int | None = None, rows: int | None = None
) -> np.ndarray:
    """A flat float64 vector from a list of numbers (or, with ``rows``, a list of ``rows`` lists)."""
    if isinstance(value, list) and rows is not None and value and all(isinstance(r, list) for r in value):
        if len(value) != rows or any(len(r) != len(value[0]) for r in value):
            raise _fail(path, key, f"expected {rows} rows of equal length, got {[len(r) for r in value]}")
        value = [x for r in value for x in r]
    if not isinstance(value, list) or any(
        isinstance(x, bool) or not isinstance(x, int | float) for x in value
    ):
        raise _fail(path, key, f"expected a list of numbers, got {value!r}")
    if n is not None and len(value) != n:
        raise _fail(path, key, f"expected {n} numbers, got {len(value)}")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise _fail(path, key, "contains non-finite values")
    return arr


def _int(value: Any, path: Path | str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, key, f"expected an integer, got {value!r}")
    return value


def _camera(
    width: Any, height: Any, K: np.ndarray, dist: np.ndarray, model: Any, path: Path | str, key: str
) -> CameraModel:
    try:
        return CameraModel(width=width, height=height, K=K, dist=dist, model=model)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {key}.{exc}") from exc


# ---------------------------------------------------------------------------------- percept YAML
def load_percept_yaml(path: Path | str) -> Rig:
    """Read a percept calibration YAML (format above) into a :class:`Rig`."""
    doc = _mapping(_read_yaml(path), path, "<document>")
    _unknown(doc, _TOP_KEYS, path, "")
    version = _int(_get(doc, "version", path, ""), path, "version")
    if version != FORMAT_VERSION:
        raise _fail(path, "version", f"unsupported version {version} (this reader knows {FORMAT_VERSION})")
    cameras: dict[str, CameraModel] = {}
    for name, spec in _mapping(doc.get("cameras") or {}, path, "cameras").items():
        key = f"cameras.{name}"
        spec = _mapping(spec, path, key)
        _unknown(spec, _CAMERA_KEYS, path, key)
        K = _numbers(_get(spec, "K", path, key), path, f"{key}.K", n=9, rows=3)
        dist = _numbers(spec.get("dist", []), path, f"{key}.dist")
        model = spec.get("model", "pinhole")
        width = _int(_get(spec, "width", path, key), path, f"{key}.width")
        height = _int(_get(spec, "height", path, key), path, f"{key}.height")
        cameras[str(name)] = _camera(width, height, K, dist, model, path, key)
    tree = FrameTree()
    transforms = doc.get("transforms") or []
    if not isinstance(transforms, list):
        raise _fail(path, "transforms", f"expected a list, got {type(transforms).__name__}")
    for i, spec in enumerate(transforms):
        key = f"transforms[{i}]"
        spec = _mapping(spec, path, key)
        _unknown(spec, _TRANSFORM_KEYS, path, key)
        parent, child = (_get(spec, k, path, key) for k in ("parent", "child"))
        for k, v in (("parent", parent), ("child", child)):
            if not isinstance(v, str) or not v:
                raise _fail(path, f"{key}.{k}", f"expected a frame name, got {v!r}")
        t = _numbers(_get(spec, "translation", path, key), path, f"{key}.translation", n=3)
        rot = _get(spec, "rotation", path, key)
        rkey = f"{key}.rotation"
        if isinstance(rot, list) and len(rot) == 4 and not any(isinstance(r, list) for r in rot):
            R = quaternion_to_matrix(_numbers(rot, path, rkey, n=4), what=f"{path}: {rkey}")
        else:
            R = check_rotation(
                _numbers(rot, path, rkey, n=9, rows=3).reshape(3, 3), ROTATION_TOL, f"{path}: {rkey}"
            )
        try:
            tree.add(parent, child, Transform(R, t))
        except CalibrationError as exc:
            raise CalibrationError(f"{path}: {key}: {exc}") from exc
    offsets = _mapping(doc.get("time_offsets_ns") or {}, path, "time_offsets_ns")
    for frame, value in offsets.items():
        tree.set_time_offset(str(frame), _int(value, path, f"time_offsets_ns.{frame}"))
    return Rig(cameras=cameras, tree=tree, version=version)


def _floats(a: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(a).reshape(-1)]


def save_percept_yaml(path: Path | str, rig: Rig) -> None:
    """Write ``rig`` as percept calibration YAML ``version: 1`` (atomically: temp file + rename)."""
    doc: dict[str, Any] = {"version": FORMAT_VERSION}
    doc["cameras"] = {
        name: {
            "width": cam.width,
            "height": cam.height,
            "model": cam.model,
            "K": [_floats(row) for row in cam.K],
            "dist": _floats(cam.dist),
        }
        for name, cam in rig.cameras.items()
    }
    doc["transforms"] = [
        {
            "parent": p,
            "child": c,
            "translation": _floats(T.translation),
            "rotation": _floats(T.as_quaternion()),
        }
        for p, c, T in rig.tree.edges()
    ]
    doc["time_offsets_ns"] = rig.tree.time_offsets()
    text = "# percept calibration, see calib/formats.py\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=None, width=200
    )
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot write ({exc.strerror or exc})") from exc


# ---------------------------------------------------------------------------------- ROS camera_info
_ROS_MODELS = {
    "plumb_bob": "pinhole",
    "rational_polynomial": "pinhole",
    "equidistant": "fisheye",
    "fisheye": "fisheye",
}


def _ros_matrix(doc: Mapping[str, Any], name: str, path: Path | str, n: int | None) -> np.ndarray:
    node = _get(doc, name, path, "")
    if isinstance(node, Mapping):
        return _numbers(_get(node, "data", path, name), path, f"{name}.data", n=n)
    return _numbers(node, path, name, n=n)


def load_ros_camera_info(path: Path | str) -> CameraModel:
    """Read a ROS camera_info YAML into a :class:`CameraModel`.

    Accepts the ``camera_calibration_parsers`` file (``image_width``, ``camera_matrix: {rows,
    cols, data}``, ``distortion_model``, ``distortion_coefficients``) and a dumped
    ``sensor_msgs/CameraInfo`` message (``width``, ``height``, ``distortion_model``, ``K``/``k``,
    ``D``/``d``; e.g. the output of ``ros2 topic echo --once``). ``plumb_bob`` and
    ``rational_polynomial`` map to ``pinhole``, ``equidistant`` to ``fisheye``.
    """
    doc = _mapping(_read_yaml(path, first_document=True), path, "<document>")
    if "camera_matrix" in doc or "image_width" in doc:
        width = _int(_get(doc, "image_width", path, ""), path, "image_width")
        height = _int(_get(doc, "image_height", path, ""), path, "image_height")
        K = _ros_matrix(doc, "camera_matrix", path, 9)
        dist = (
            _ros_matrix(doc, "distortion_coefficients", path, None)
            if "distortion_coefficients" in doc
            else np.zeros(0)
        )
        k_key, d_key = "camera_matrix", "distortion_coefficients"
    else:
        width = _int(_get(doc, "width", path, ""), path, "width")
        height = _int(_get(doc, "height", path, ""), path, "height")
        k_key = "k" if "k" in doc else "K"
        K = _ros_matrix(doc, k_key, path, 9)
        d_key = "d" if "d" in doc else "D"
        dist = _ros_matrix(doc, d_key, path, None) if d_key in doc else np.zeros(0)
    model_name = doc.get("distortion_model", "plumb_bob")
    if model_name not in _ROS_MODELS:
        raise _fail(path, "distortion_model", f"unsupported {model_name!r} (known: {', '.join(_ROS_MODELS)})")
    model = _ROS_MODELS[model_name]
    try:
        return CameraModel(width=width, height=height, K=K.reshape(3, 3), dist=dist, model=model)
    except CalibrationError as exc:
        key = k_key if str(exc).startswith("K") else d_key
        raise CalibrationError(f"{path}: {key}: {exc}") from exc


# ---------------------------------------------------------------------------------- OpenCV YAML
_CV_K = ("camera_matrix", "cameraMatrix", "K")
_CV_D = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "D")


def load_opencv_yaml(path: Path | str) -> CameraModel:
    """Read an OpenCV ``cv2.FileStorage`` YAML/XML/JSON calibration into a :class:`CameraModel`.

    Keys as OpenCV's calibration samples write them: ``image_width``, ``image_height``,
    ``camera_matrix`` (``!!opencv-matrix`` 3x3), ``distortion_coefficients``; the model is
    ``fisheye`` when ``fisheye_model`` is non-zero or ``distortion_model`` is ``fisheye`` /
    ``equidistant``.
    """
    if not Path(path).is_file():
        raise CalibrationError(f"{path}: cannot read (no such file)")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except cv2.error as exc:
        raise CalibrationError(f"{path}: not a valid OpenCV FileStorage file ({exc.err})") from exc
    if not fs.isOpened():
        raise CalibrationError(f"{path}: not a valid OpenCV FileStorage file")
    try:

        def node(names: tuple[str, ...]) -> tuple[str, Any]:
            for name in names:
                n = fs.getNode(name)
                if not n.empty():
                    return name, n
            raise _fail(path, names[0], "missing required key")

        def integer(name: str) -> int:
            _, n = node((name,))
            if not (n.isInt() or n.isReal()) or n.real() != int(n.real()):
                raise _fail(path, name, "expected an integer")
            return int(n.real())

        width, height = integer("image_width"), integer("image_height")

        def matrix(names: tuple[str, ...]) -> tuple[str, np.ndarray]:
            name, n = node(names)
            try:
                m = n.mat()
            except cv2.error as exc:
                raise _fail(path, name, f"malformed matrix ({exc.err})") from exc
            if m is None:
                raise _fail(path, name, "expected an !!opencv-matrix")
            return name, np.asarray(m, dtype=np.float64)

        k_name, K = matrix(_CV_K)
        if K.size != 9:
            raise _fail(path, k_name, f"expected a 3x3 matrix, got shape {K.shape}")
        d_name, dist = matrix(_CV_D)
        model = "pinhole"
        fish = fs.getNode("fisheye_model")
        if not fish.empty() and fish.real() != 0:
            model = "fisheye"
        dm = fs.getNode("distortion_model")
        if not dm.empty() and dm.isString() and dm.string() in ("fisheye", "equidistant"):
            model = "fisheye"
    finally:
        fs.release()
    try:
        return CameraModel(width=width, height=height, K=K.reshape(3, 3), dist=dist.reshape(-1), model=model)
    except CalibrationError as exc:
        key = k_name if str(exc).startswith("K") else d_name
        raise CalibrationError(f"{path}: {key}: {exc}") from exc
