"""Rigid transforms and a tree of named coordinate frames.

Naming convention: a :class:`Transform` called ``T_a_from_b`` maps points expressed in frame
``b`` into frame ``a``: ``p_a = T_a_from_b.apply(p_b) = R @ p_b + t``. Composition reads right
to left, like the matrices: ``T_a_from_c = T_a_from_b @ T_b_from_c``. Units are metres.

Quaternions are ``[x, y, z, w]`` (Hamilton, the ROS / Eigen-coefficient / scipy order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calib.errors import CalibrationError

ROTATION_TOL = 1e-6
"""Default tolerance on ``max |R Rᵀ - I|`` and ``|det R - 1|`` for a valid rotation."""


def set_read_only(obj: object, **arrays: np.ndarray) -> None:
    """Store each of ``arrays`` on the frozen dataclass ``obj`` under its keyword, made read-only
    (for ``__post_init__`` that has normalised its array fields)."""
    for name, array in arrays.items():
        array.setflags(write=False)
        object.__setattr__(obj, name, array)


def rotation_deviation(R: np.ndarray) -> float:
    """How far a (3, 3) matrix is from a rotation: ``max(max|R Rᵀ - I|, |det R - 1|)``."""
    R = np.asarray(R, dtype=np.float64)
    return float(max(np.abs(R @ R.T - np.eye(3)).max(), abs(np.linalg.det(R) - 1.0)))


def check_rotation(R: np.ndarray, tol: float = ROTATION_TOL, what: str = "rotation") -> np.ndarray:
    """Validate a rotation matrix and return it as a (3, 3) float64 array.

    Raises :class:`CalibrationError` naming ``what`` with the measured deviation when ``R`` is not
    (3, 3), not finite, not orthonormal within ``tol`` or a reflection.
    """
    try:
        arr = np.array(R, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"{what}: not a numeric matrix ({exc})") from exc
    if arr.shape != (3, 3):
        raise CalibrationError(f"{what}: expected a (3, 3) matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{what}: contains non-finite values")
    ortho = float(np.abs(arr @ arr.T - np.eye(3)).max())
    if ortho > tol:
        raise CalibrationError(f"{what}: not orthonormal: max |R·Rᵀ - I| = {ortho:.3g} (tolerance {tol:g})")
    det = float(np.linalg.det(arr))
    if abs(det - 1.0) > tol:
        raise CalibrationError(f"{what}: determinant {det:.9g} is not +1 (a reflection?)")
    return arr


def orthonormalize(R: np.ndarray) -> np.ndarray:
    """The rotation nearest to ``R`` (Frobenius norm), via SVD; (3, 3) float64."""
    u, _, vt = np.linalg.svd(np.asarray(R, dtype=np.float64))
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def quaternion_to_matrix(q: np.ndarray, tol: float = 1e-5, what: str = "rotation") -> np.ndarray:
    """Unit quaternion ``[x, y, z, w]`` -> (3, 3) rotation; its norm must be 1 within ``tol``."""
    try:
        x, y, z, w = (float(v) for v in np.asarray(q, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"{what}: expected a quaternion [x, y, z, w] of 4 numbers ({exc})") from exc
    n = np.sqrt(x * x + y * y + z * z + w * w)
    if not np.isfinite(n) or abs(n - 1.0) > tol:
        raise CalibrationError(f"{what}: quaternion norm is {n:.9g}, expected 1 (tolerance {tol:g})")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> unit quaternion ``[x, y, z, w]`` with ``w >= 0`` (Shepperd's method)."""
    m = np.asarray(R, dtype=np.float64)
    tr = np.trace(m)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    qa = np.array(q)
    qa /= np.linalg.norm(qa)
    return -qa if qa[3] < 0 else qa


@dataclass(frozen=True)
class Transform:
    """A rigid transform ``p -> R @ p + t``: ``rotation`` (3, 3) float64, ``translation`` (3,) metres.

    The rotation must be orthonormal with determinant +1 within :data:`ROTATION_TOL`; use
    :meth:`from_matrix` with a looser ``tol`` for matrices read from low-precision files.
    """

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        R = check_rotation(self.rotation)
        try:
            t = np.array(self.translation, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"translation: not numeric ({exc})") from exc
        if t.shape != (3,) or not np.all(np.isfinite(t)):
            raise CalibrationError(f"translation: expected 3 finite numbers, got {t.tolist()}")
        set_read_only(self, rotation=R, translation=t)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transform):
            return NotImplemented
        return np.array_equal(self.rotation, other.rotation) and np.array_equal(
            self.translation, other.translation
        )

    def __hash__(self) -> int:
        return hash((self.rotation.tobytes(), self.translation.tobytes()))

    @classmethod
    def identity(cls) -> Transform:
        """The identity transform."""
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_matrix(cls, m: np.ndarray, tol: float = ROTATION_TOL) -> Transform:
        """From a (4, 4) homogeneous or (3, 4) ``[R | t]`` matrix.

        The rotation block must be a rotation within ``tol``; it is then snapped to the nearest
        exact rotation so that errors do not accumulate through compositions.
        """
        try:
            arr = np.asarray(m, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"matrix: not numeric ({exc})") from exc
        if arr.shape == (4, 4):
            if not np.allclose(arr[3], [0.0, 0.0, 0.0, 1.0]):
                raise CalibrationError(f"matrix: last row must be [0, 0, 0, 1], got {arr[3].tolist()}")
        elif arr.shape != (3, 4):
            raise CalibrationError(f"matrix: expected shape (4, 4) or (3, 4), got {arr.shape}")
        R = check_rotation(arr[:3, :3], tol, "rotation")
        return cls(orthonormalize(R), arr[:3, 3])

    @classmethod
    def from_quaternion(cls, q: np.ndarray, translation: np.ndarray, tol: float = 1e-5) -> Transform:
        """From a quaternion ``[x, y, z, w]`` (norm 1 within ``tol``) and a translation (3,)."""
        return cls(quaternion_to_matrix(q, tol), translation)

    def as_matrix(self) -> np.ndarray:
        """The (4, 4) float64 homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def as_quaternion(self) -> np.ndarray:
        """The rotation as a unit quaternion ``[x, y, z, w]`` with ``w >= 0``."""
        return matrix_to_quaternion(self.rotation)

    def inverse(self) -> Transform:
        """``T_b_from_a`` for ``self = T_a_from_b``."""
        rt = self.rotation.T
        return Transform(rt, -rt @ self.translation)

    def __matmul__(self, other: Transform) -> Transform:
        if not isinstance(other, Transform):
            return NotImplemented
        return Transform(self.rotation @ other.rotation, self.rotation @ other.translation + self.translation)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) points (or one (3,) point) into the target frame; same shape, float64."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape == (3,):
            return self.rotation @ pts + self.translation
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise CalibrationError(f"apply: expected (N, 3) points, got shape {pts.shape}")
        return pts @ self.rotation.T + self.translation


class FrameTree:
    """Named frames connected by rigid transforms, each child with exactly one parent.

    Lookups go through any path (up to the common root and down again). Also holds per-frame
    time offsets: ``sensor clock + offset_ns = common clock``.
    """

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, Transform]] = {}
        self._frames: dict[str, None] = {}
        self._offsets: dict[str, int] = {}

    def add_frame(self, frame: str) -> None:
        """Declare a frame without connecting it (e.g. a camera with intrinsics only)."""
        if not isinstance(frame, str) or not frame:
            raise CalibrationError(f"frame names must be non-empty strings, got {frame!r}")
        self._frames.setdefault(frame, None)

    def add(self, parent: str, child: str, T_parent_from_child: Transform) -> None:
        """Connect ``child`` under ``parent``; refuses a second parent or a cycle."""
        if not isinstance(T_parent_from_child, Transform):
            raise CalibrationError(
                f"{parent} -> {child}: expected a Transform, got {type(T_parent_from_child)}"
            )
        self.add_frame(parent)
        self.add_frame(child)
        if parent == child:
            raise CalibrationError(f"frame {child!r} cannot be its own parent")
        if child in self._parent:
            raise CalibrationError(f"frame {child!r} already has parent {self._parent[child][0]!r}")
        if self._root(parent) == child:
            raise CalibrationError(f"adding {parent!r} -> {child!r} would make a cycle")
        self._parent[child] = (parent, T_parent_from_child)

    def frames(self) -> list[str]:
        """All frame names, in insertion order."""
        return list(self._frames)

    def parent(self, frame: str) -> str | None:
        """The parent frame name, or None for a root."""
        self._require(frame)
        entry = self._parent.get(frame)
        return entry[0] if entry else None

    def edges(self) -> list[tuple[str, str, Transform]]:
        """``(parent, child, T_parent_from_child)`` for every edge, in insertion order."""
        return [(p, c, T) for c, (p, T) in self._parent.items()]

    def _require(self, frame: str) -> None:
        if frame not in self._frames:
            raise CalibrationError(f"unknown frame {frame!r} (known: {', '.join(self._frames) or 'none'})")

    def _root(self, frame: str) -> str:
        while frame in self._parent:
            frame = self._parent[frame][0]
        return frame

    def _to_root(self, frame: str) -> tuple[str, Transform]:
        T = Transform.identity()
        while frame in self._parent:
            parent, T_p_c = self._parent[frame]
            T = T_p_c @ T
            frame = parent
        return frame, T

    def lookup(self, target: str, source: str) -> Transform:
        """``T_target_from_source``; CalibrationError naming both frames if they are not connected."""
        self._require(target)
        self._require(source)
        root_s, T_root_from_source = self._to_root(source)
        root_t, T_root_from_target = self._to_root(target)
        if root_s != root_t:
            raise CalibrationError(
                f"frames {target!r} and {source!r} are not connected "
                f"(their roots are {root_t!r} and {root_s!r})"
            )
        return T_root_from_target.inverse() @ T_root_from_source

    def set_time_offset(self, frame: str, offset_ns: int) -> None:
        """Set the clock offset of ``frame``'s sensor: ``sensor stamp + offset_ns = common clock``."""
        if isinstance(offset_ns, bool) or not isinstance(offset_ns, int | np.integer):
            raise CalibrationError(
                f"time offset of {frame!r}: expected integer nanoseconds, got {offset_ns!r}"
            )
        self.add_frame(frame)
        self._offsets[frame] = int(offset_ns)

    def time_offset_ns(self, frame: str) -> int:
        """The clock offset of ``frame`` in ns (0 when never set)."""
        return self._offsets.get(frame, 0)

    def time_offsets(self) -> dict[str, int]:
        """All explicitly set offsets, ``{frame: offset_ns}``."""
        return dict(self._offsets)

    def __repr__(self) -> str:
        return f"FrameTree(frames={self.frames()}, edges={len(self._parent)})"
