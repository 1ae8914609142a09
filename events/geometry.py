"""Scene geometry: zones (polygons), tripwires (lines with a direction), and where tracks stand.

A scene's geometry lives in one frame (:data:`FRAMES`):

* ``ground``: the ground plane in metres (x east/right, y north/forward, z up). Headings are
  degrees counter-clockwise from +x. 2D (image) tracks reach it through the scene's image->ground
  homography; 3D tracks are used as they are (their ``x, y`` in metres, world/ego frame).
* ``image``: pixels of the camera image (x right, y down). Headings are as seen on screen:
  degrees counter-clockwise from +x with the y axis flipped, so 90 is "up the image".

A track's ground point is its box bottom centre ``((x1 + x2) / 2, y2)`` (2D) or its ``x, y``
(3D). Its position uncertainty ``sigma`` (scene units, one standard deviation along the worst
direction) comes from the track covariance when the message has one (box corners for 2D,
propagated to the bottom centre and through the homography's Jacobian; the ``x, y`` block for
3D); without covariance, a 2D track's bottom centre is taken as uncertain by
``box_sigma_frac * box height`` pixels, multiplied by ``young_age / age`` while ``age <
young_age`` (young tracks are less certain), then scaled to the ground by the local metres per
pixel of the homography; a 3D track without covariance has ``sigma = 0``. Points at or above
the horizon (no ground point) get NaN positions and infinite ``sigma``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely

from calib.ground import apply_homography, homography_jacobian
from events.errors import EventsError
from percept.messages import Tracks

FRAMES = ("ground", "image")
Frame = Literal["ground", "image"]
Direction = Literal["both", "left_to_right", "right_to_left"]
BOX_FIELDS = ("x1", "y1", "x2", "y2")
#: 3D box size fields, in the two spellings trackers use (sim: l, w, h; Tracker3D: length, ...).
SIZE_FIELDS = (("l", "w", "h"), ("length", "width", "height"))


def polygon_problem(points: np.ndarray) -> str | None:
    """Why (K, 2) ``points`` are not a usable zone polygon, or ``None`` when they are."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        return f"a polygon needs at least 3 [x, y] points, got {len(pts)}"
    if not np.all(np.isfinite(pts)):
        return "polygon points must be finite numbers"
    centred = pts - pts.mean(axis=0)
    if np.linalg.svd(centred, compute_uv=False)[-1] <= 1e-9 * max(float(np.abs(centred).max()), 1e-300):
        return "polygon has no area (its points are collinear)"
    poly = shapely.Polygon(pts)
    reason = shapely.is_valid_reason(poly)
    if reason != "Valid Geometry":
        where = reason.partition("[")[2].rstrip("]").split()
        at = f" at ({', '.join(where)})" if where else ""
        kind = "self-intersecting" if reason.startswith(("Self-intersection", "Ring Self-intersection")) \
            else reason.partition("[")[0].lower()
        return f"polygon is {kind}{at}"
    return None


def heading_deg(velocity: np.ndarray, frame: Frame) -> np.ndarray:
    """(N,) headings of (N, 2) velocities in degrees [-180, 180), by the frame's convention."""
    v = np.asarray(velocity, dtype=np.float64).reshape(-1, 2)
    vy = v[:, 1] if frame == "ground" else -v[:, 1]
    return np.degrees(np.arctan2(vy, v[:, 0]))


def angle_between_deg(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Absolute difference of headings ``a`` and ``b`` in degrees, in [0, 180]."""
    return np.abs((np.asarray(a, np.float64) - b + 180.0) % 360.0 - 180.0)


def _is_axis_box(ring: np.ndarray) -> bool:
    """Whether the (K, 2) ring (closing point optional) is an axis-aligned rectangle with area: four
    distinct corners of its bounding box joined by horizontal and vertical edges."""
    if len(ring) == 5 and np.array_equal(ring[0], ring[-1]):
        ring = ring[:-1]
    if len(ring) != 4:
        return False
    lo, hi = ring.min(axis=0), ring.max(axis=0)
    corners = {(float(x), float(y)) for x in (lo[0], hi[0]) for y in (lo[1], hi[1])}
    if len(corners) != 4 or {(float(x), float(y)) for x, y in ring} != corners:
        return False
    return bool(np.all((ring == np.roll(ring, -1, axis=0)).sum(axis=1) == 1))


def _in_open_box(bounds: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(Z, N) bool: points strictly inside each of the (Z, 4) ``xmin, ymin, xmax, ymax`` boxes."""
    b = bounds[:, :, None]
    return (x > b[:, 0]) & (x < b[:, 2]) & (y > b[:, 1]) & (y < b[:, 3])


@dataclass(frozen=True, eq=False)
class Zone:
    """A named polygon of the scene, with the classes and limits its rules use.

    Attributes:
        polygon: (K, 2) float64 vertices, scene units.
        classes: class names the zone's rules watch (empty: every class).
        direction_deg: allowed direction of motion (for ``wrong_way``), or None.
        speed_limit: scene units per second (for ``speed``), or None.
        max_count: most objects allowed at once (for ``crowding``), or None.
        bounds: (4,) float64 ``xmin, ymin, xmax, ymax`` of the vertices.
        is_box: the polygon is an axis-aligned rectangle (then inside is inside its bounds).
    """

    name: str
    polygon: np.ndarray
    classes: tuple[str, ...] = ()
    direction_deg: float | None = None
    speed_limit: float | None = None
    max_count: int | None = None
    bounds: np.ndarray = field(init=False, repr=False)
    is_box: bool = field(init=False, repr=False)
    _shape: shapely.Polygon = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pts = np.asarray(self.polygon, np.float64)
        shape = shapely.Polygon(pts)
        shapely.prepare(shape)
        object.__setattr__(self, "_shape", shape)
        object.__setattr__(self, "bounds", np.concatenate([pts.min(axis=0), pts.max(axis=0)]))
        object.__setattr__(self, "is_box", _is_axis_box(pts))

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: which (N, 2) points are strictly inside (NaN points never are)."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        x, y = pts[:, 0], pts[:, 1]
        return self.refine(x, y, _in_open_box(self.bounds[None], x, y)[0])

    def refine(self, x: np.ndarray, y: np.ndarray, in_box: np.ndarray) -> np.ndarray:
        """(N,) bool: which points ``x``, ``y`` (N,) are strictly inside, given ``in_box`` (N,), those
        strictly inside :attr:`bounds` (updated in place and returned).

        The interior of a polygon lies in the open box of its vertices, so only the points in the
        box are tested against the polygon (shapely's ``contains_xy``); for an axis-aligned
        rectangle the box test is the answer. Either way the result is shapely's, exactly."""
        if not self.is_box:
            rows = np.nonzero(in_box)[0]
            if len(rows):
                in_box[rows] = shapely.contains_xy(self._shape, x[rows], y[rows])
        return in_box

    @property
    def centroid(self) -> tuple[float, float]:
        c = self._shape.centroid
        return float(c.x), float(c.y)


class ZoneIndex:
    """Which points are in which of several zones, all zones in one pass (see :meth:`Zone.refine`).

    Args:
        zones: zones with distinct names.
    """

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = tuple(zones)
        if len({z.name for z in self.zones}) != len(self.zones):
            raise EventsError(f"zone names repeat: {[z.name for z in self.zones]}")
        self._bounds = np.array([z.bounds for z in self.zones], np.float64).reshape(-1, 4)

    def __contains__(self, zone: object) -> bool:
        return any(z is zone for z in self.zones)

    def contains(self, xy: np.ndarray) -> dict[str, np.ndarray]:
        """Zone name -> (N,) bool: which (N, 2) points are strictly inside it (as :meth:`Zone.contains`)."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        x, y = pts[:, 0], pts[:, 1]
        in_box = _in_open_box(self._bounds, x, y)
        return {z.name: z.refine(x, y, in_box[i]) for i, z in enumerate(self.zones)}


@dataclass(frozen=True, eq=False)
class Tripwire:
    """A directional counting line from ``a`` to ``b`` (scene units).

    "Left" and "right" are as seen walking from ``a`` to ``b`` in the frame's convention (ground:
    y north; image: as on screen). ``direction`` says which crossings count: ``left_to_right``,
    ``right_to_left`` or ``both``. Hysteresis: a track's side only changes once it is more than
    ``margin`` from the line, so a track jittering on the line never counts, and one that crosses
    counts once.
    """

    name: str
    a: tuple[float, float]
    b: tuple[float, float]
    direction: Direction = "both"
    margin: float = 0.5
    frame: Frame = "ground"
    classes: tuple[str, ...] = ()
    #: ``a`` as an array, ``b - a`` and its length (scene units)
    _a: np.ndarray = field(init=False, repr=False)
    _ab: np.ndarray = field(init=False, repr=False)
    _length: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a, b = np.asarray(self.a, np.float64), np.asarray(self.b, np.float64)
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_ab", b - a)
        object.__setattr__(self, "_length", float(np.hypot(*(b - a))))

    def offsets(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(d, within)`` for (N, 2) points: ``d`` (N,) signed distance to the line, positive on
        its left; ``within`` (N,) bool, the point projects onto the segment (extended by ``margin``)."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        ab, length = self._ab, self._length
        rel = pts - self._a
        cross = (ab[0] * rel[:, 1] - ab[1] * rel[:, 0]) / length
        d = cross if self.frame == "ground" else -cross
        s = (rel @ ab) / length
        with np.errstate(invalid="ignore"):
            within = (s >= -self.margin) & (s <= length + self.margin)
        return d, within

    def counts(self, from_side: int, to_side: int) -> bool:
        """Whether a crossing from side ``from_side`` to ``to_side`` (+1 left, -1 right) counts."""
        if self.direction == "both":
            return True
        return (from_side, to_side) == ((1, -1) if self.direction == "left_to_right" else (-1, 1))


@dataclass(frozen=True)
class Located:
    """Where the rows of one ``Tracks`` message stand in the scene frame.

    Attributes:
        xy: (N, 2) float64 ground points, scene units (NaN when unknown).
        sigma: (N,) float64 position standard deviation, scene units (inf when unknown).
        aspect: (N,) float64 box height / width (2D) or height / max(length, width) (3D), NaN if none.
        box: (N, 4) float64 image boxes ``x1, y1, x2, y2`` of 2D tracks, or None for 3D tracks.
    """

    xy: np.ndarray
    sigma: np.ndarray
    aspect: np.ndarray
    box: np.ndarray | None


def _max_singular(m: np.ndarray) -> np.ndarray:
    """(N,) largest singular value of (N, 2, 2) matrices."""
    g = np.einsum("nji,njk->nik", m, m)  # m^T m
    a, b, c = g[:, 0, 0], g[:, 0, 1], g[:, 1, 1]
    return np.sqrt((a + c) / 2 + np.sqrt(((a - c) / 2) ** 2 + b * b))


def _cov_sigma(cov: np.ndarray) -> np.ndarray:
    """(N,) sqrt of the largest eigenvalue of (N, 2, 2) symmetric covariances."""
    a, b, c = cov[:, 0, 0], 0.5 * (cov[:, 0, 1] + cov[:, 1, 0]), cov[:, 1, 1]
    lam = (a + c) / 2 + np.sqrt(((a - c) / 2) ** 2 + b * b)
    return np.sqrt(np.maximum(lam, 0.0))


@dataclass(frozen=True)
class Locator:
    """Maps ``Tracks`` rows into a scene frame (see the module docstring for the rules).

    Args:
        frame: the scene's geometry frame.
        homography: (3, 3) image -> ground, needed for 2D tracks in a ``ground`` scene.
        box_sigma_frac, young_age: the covariance-free uncertainty model of 2D tracks.
    """

    frame: Frame
    homography: np.ndarray | None = None
    box_sigma_frac: float = 0.05
    young_age: int = 5

    def locate(self, tracks: Tracks) -> Located:
        """Ground points, uncertainty, aspect and boxes of every row; EventsError if the tracks do
        not fit the scene (no usable state fields, 2D tracks without a homography, 3D in an image scene)."""
        fields = tracks.state_fields
        if all(f in fields for f in BOX_FIELDS):
            return self._locate_2d(tracks)
        if "x" in fields and "y" in fields:
            if self.frame == "image":
                raise EventsError(f"tracks in frame {tracks.frame_id!r} are 3D (x, y) but the scene's "
                                  "geometry is in image pixels (frame: image)")
            return self._locate_3d(tracks)
        raise EventsError(f"tracks state_fields {list(fields)} have neither x1, y1, x2, y2 nor x, y")

    def _locate_2d(self, tracks: Tracks) -> Located:
        idx = [tracks.state_fields.index(f) for f in BOX_FIELDS]
        box = tracks.state[:, idx].astype(np.float64)
        w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            aspect = np.where(w > 0, h / w, np.nan)
        bottom = np.stack([(box[:, 0] + box[:, 2]) / 2, box[:, 3]], axis=1)
        if self.frame == "ground":
            if self.homography is None:
                raise EventsError("tracks are 2D image boxes but the scene (frame: ground) has no "
                                  "homography or calibration to map them to the ground")
            xy = apply_homography(self.homography, bottom)
            jac = homography_jacobian(self.homography, bottom)
        else:
            xy = bottom
            jac = np.broadcast_to(np.eye(2), (len(box), 2, 2))
        if tracks.covariance is not None:
            cov4 = tracks.covariance[:, idx][:, :, idx].astype(np.float64)
            A = np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
            cov = jac @ (A @ cov4 @ A.T) @ np.swapaxes(jac, 1, 2)
            sigma = _cov_sigma(cov)
        else:
            age = np.maximum(tracks.age.astype(np.float64), 1.0)
            sigma_px = self.box_sigma_frac * np.abs(h) * np.maximum(1.0, self.young_age / age)
            sigma = sigma_px * _max_singular(jac)
        return Located(xy=xy, sigma=_unknown_is_inf(xy, sigma), aspect=aspect, box=box)

    def _locate_3d(self, tracks: Tracks) -> Located:
        fields = tracks.state_fields
        ix, iy = fields.index("x"), fields.index("y")
        xy = tracks.state[:, [ix, iy]].astype(np.float64)
        if tracks.covariance is not None:
            sigma = _cov_sigma(tracks.covariance[:, [ix, iy]][:, :, [ix, iy]].astype(np.float64))
        else:
            sigma = np.zeros(len(xy))
        aspect = np.full(len(xy), np.nan)
        for names in SIZE_FIELDS:
            if all(n in fields for n in names):
                length, width, height = (tracks.state[:, fields.index(n)].astype(np.float64) for n in names)
                with np.errstate(divide="ignore", invalid="ignore"):
                    aspect = height / np.maximum(length, width)
                break
        return Located(xy=xy, sigma=_unknown_is_inf(xy, sigma), aspect=aspect, box=None)


def _unknown_is_inf(xy: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    ok = np.all(np.isfinite(xy), axis=1) & np.isfinite(sigma)
    return np.where(ok, sigma, np.inf)
