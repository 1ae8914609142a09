"""Scene configs: one YAML file per camera or scene -- geometry, rules, track and lifecycle settings.

::

    name: plaza                     # required; event ids read "<name>-<rule>-<n>"
    camera: cctv                    # camera name (Event.camera, topic events/<camera>); default: name
    frame: ground                   # geometry frame: ground (metres) or image (pixels); default:
                                    # ground with a homography or calibration, else image
    image_size: [960, 540]          # optional: zones and lines outside the image are refused
    homography: [[..], [..], [..]]  # optional 3x3 image -> ground (or 'calibration', not both):
    calibration: plaza-ground.yaml  #   a `percept calibrate ground` file, relative to this one
    zones:
      restricted:
        polygon: [[6, 18], [14, 18], [14, 25], [6, 25]]   # required, >= 3 points, simple
        classes: [pedestrian]       # optional: classes the zone's rules watch (default: all)
        direction_deg: 0            # optional: allowed direction of motion (wrong_way)
        speed_limit: 2.0            # optional: scene units / s (speed)
        max_count: 10               # optional (crowding)
    lines:
      entrance: {points: [[-18, 2], [18, 2]], direction: right_to_left, margin: 0.5, classes: []}
    rules:                          # each: type + that rule's keys (events.rules)
      - {type: intrusion, zone: restricted, min_dwell_s: 0.5}
    tracks: {max_sigma: 1.0}        # optional: TrackSettings
    lifecycle: {cooldown_s: 10}     # optional: events.lifecycle.LifecycleConfig
    anomaly: {fps: 10, ...}         # optional: the offline anomaly pipeline's settings

The ``anomaly`` section belongs to a layer above this one (``replay.pipeline.AnomalySceneConfig``:
detector, trackers, normal-motion score); a loader that uses it passes its config class as
``load_scene(path, anomaly=...)`` and gets it validated here like every other key (its
``camera`` defaults to the scene's), as :attr:`Scene.anomaly`; other loaders leave it alone.

Every error names the file, the line and the key (``plaza.yaml:14: zones.restricted.polygon:
polygon is self-intersecting at (10, 21.5)``). "Outside the image": in an ``image`` scene every
point must lie in the image; in a ``ground`` scene with a homography, each zone and line must
overlap the part of the ground the image sees.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely
import yaml

from calib.errors import CalibrationError
from calib.ground import apply_homography, check_homography, load_ground_yaml
from events.errors import EventsError
from events.geometry import Direction, Frame, Tripwire, Zone, polygon_problem
from events.lifecycle import LifecycleConfig
from events.rules import RULE_TYPES, RuleConfig
from percept.config import build, yaml_error_text
from percept.errors import ConfigError

__all__ = ["Scene", "SceneRule", "TrackSettings", "load_scene", "scene_from_dict"]


@dataclass(frozen=True)
class TrackSettings:
    """How tracks are read (the ``tracks:`` section).

    Attributes:
        max_sigma: zone and line rules ignore positions more uncertain than this (scene units;
            default 1.0 m in a ground scene, 15 px in an image scene). See :mod:`events.geometry`.
        box_sigma_frac, young_age: the covariance-free uncertainty model of 2D boxes.
        min_age: tracks younger than this many updates are not used.
        velocity_window_s, min_velocity_span_s, forget_after_s, history_len: see
            :class:`events.history.TrackHistory`.
    """

    max_sigma: float | None = None
    box_sigma_frac: float = 0.05
    young_age: int = 5
    min_age: int = 1
    velocity_window_s: float = 1.0
    min_velocity_span_s: float = 0.3
    forget_after_s: float = 2.0
    history_len: int = 48

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and not v >= 0:
                raise ValueError(f"{f.name}: expected >= 0, got {v}")
        if self.history_len < 2 or self.velocity_window_s <= 0:
            raise ValueError("history_len: expected >= 2 and velocity_window_s > 0")


@dataclass(frozen=True)
class _ZoneSpec:
    polygon: tuple[tuple[float, float], ...]
    classes: tuple[str, ...] = ()
    direction_deg: float | None = None
    speed_limit: float | None = None
    max_count: int | None = None


@dataclass(frozen=True)
class _LineSpec:
    points: tuple[tuple[float, float], ...]
    direction: Direction = "both"
    margin: float = 0.5
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Top:
    name: str
    camera: str = ""
    frame: Literal["ground", "image"] | None = None
    image_size: tuple[int, int] | None = None
    homography: Any = None
    calibration: str | None = None
    zones: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, Any] = field(default_factory=dict)
    rules: list[Any] = field(default_factory=list)
    tracks: TrackSettings = field(default_factory=TrackSettings)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    anomaly: Any = None


@dataclass(frozen=True)
class SceneRule:
    """One entry of ``rules:``: its unique name, type and validated config."""

    name: str
    type: str
    config: RuleConfig


@dataclass(frozen=True, eq=False)
class Scene:
    """A validated scene (see the module docstring); ``source`` is the file it came from;
    ``anomaly`` the validated ``anomaly`` section (``None`` unless its config class was given)."""

    name: str
    camera: str
    frame: Frame
    zones: Mapping[str, Zone]
    lines: Mapping[str, Tripwire]
    rules: tuple[SceneRule, ...]
    homography: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    tracks: TrackSettings = field(default_factory=TrackSettings)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    source: str = ""
    anomaly: Any = None

    @property
    def max_sigma(self) -> float:
        """The position uncertainty limit of zone and line rules, scene units."""
        if self.tracks.max_sigma is not None:
            return self.tracks.max_sigma
        return 1.0 if self.frame == "ground" else 15.0


class _Where:
    """Turns a key path into ``file:line: path`` using the YAML node marks."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source, self.lines = source, lines

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path) if re.search(r"[.\[]", path) else ""
        return None

    def error(self, path: str, problem: str) -> EventsError:
        line = self.line(path)
        at = f"{self.source}:{line}" if line else self.source
        return EventsError(f"{at}: {path}: {problem}")

    def from_config_error(self, exc: ConfigError) -> EventsError:
        path, _, problem = str(exc).partition(": ")
        sub = re.match(r"(?:unknown key '([^']+)'|([A-Za-z_]\w*): )", problem)
        if sub and sub.group(1) and _join(path, sub.group(1)) in self.lines:
            path = _join(path, sub.group(1))
        elif sub and sub.group(2):
            path, problem = _join(path, sub.group(2)), problem[len(sub.group(0)):]
        return self.error(path or "(top level)", problem)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _node_lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    """Record the 1-based line of every key and list item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            sub = f"{path}.{k.value}" if path else str(k.value)
            out[sub] = k.start_mark.line + 1
            _node_lines(v, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[f"{path}[{i}]"] = item.start_mark.line + 1
            _node_lines(item, f"{path}[{i}]", out)


def load_scene(path: str | Path, anomaly: type | None = None) -> Scene:
    """Read and validate a scene YAML; :class:`EventsError` names the file, line and key.
    ``anomaly``: the dataclass of the ``anomaly`` section, to validate and return it too."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EventsError(f"{p}: cannot read scene config: {exc}") from exc
    loader = yaml.SafeLoader(text)
    try:  # one parse: the node tree gives the line of every key, then the data
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise EventsError(yaml_error_text(str(p), exc)) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if root is not None:
        _node_lines(root, "", lines)
    return scene_from_dict(data, str(p), lines, base=p.parent, anomaly=anomaly)


def scene_from_dict(data: Any, source: str = "<scene>", lines: Mapping[str, int] | None = None,
                    base: Path | None = None, anomaly: type | None = None) -> Scene:
    """Validate a scene mapping (as parsed from YAML); ``lines`` maps key paths to lines;
    ``anomaly`` as in :func:`load_scene`."""
    where = _Where(source, lines or {})
    if not isinstance(data, Mapping):
        raise EventsError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        top = build(_Top, data, "")
    except ConfigError as exc:
        raise where.from_config_error(ConfigError(str(exc).lstrip("."))) from None
    H, image_size = _homography(top, where, base)
    frame: Frame = top.frame or ("ground" if H is not None else "image")
    zones = {name: _zone(name, spec, where) for name, spec in top.zones.items()}
    tlines = {name: _line(name, spec, frame, where) for name, spec in top.lines.items()}
    if image_size is not None:
        _check_in_image(zones, tlines, frame, H, image_size, where)
    rules = _rules(top.rules, zones, tlines, where)
    camera = top.camera or top.name
    section = None if anomaly is None else _anomaly(anomaly, top.anomaly, camera, where)
    return Scene(name=top.name, camera=camera, frame=frame, zones=zones, lines=tlines,
                 rules=rules, homography=H, image_size=image_size, tracks=top.tracks, lifecycle=top.lifecycle,
                 source=source, anomaly=section)


def _anomaly(cls: type, data: Any, camera: str, where: _Where) -> Any:
    """The ``anomaly`` section built as ``cls`` (its ``camera`` defaulting to the scene's)."""
    if data is not None and not isinstance(data, Mapping):
        raise where.error("anomaly", f"expected a mapping, got {type(data).__name__}")
    section = dict(data or {})
    if "camera" in {f.name for f in dataclasses.fields(cls)}:
        section.setdefault("camera", camera)
    try:
        return build(cls, section, "anomaly")
    except ConfigError as exc:
        raise where.from_config_error(exc) from None


def _homography(top: _Top, where: _Where,
                base: Path | None) -> tuple[np.ndarray | None, tuple[int, int] | None]:
    if top.homography is not None and top.calibration is not None:
        raise where.error("calibration", "give either 'homography' or 'calibration', not both")
    size = top.image_size
    if size is not None and (size[0] <= 0 or size[1] <= 0):
        raise where.error("image_size", f"expected [width, height] > 0, got {list(size)}")
    try:
        if top.homography is not None:
            return check_homography(top.homography, where.source, "homography"), size
        if top.calibration is not None:
            path = Path(top.calibration)
            calib = load_ground_yaml(path if path.is_absolute() or base is None else base / path)
            return calib.H, size or calib.image_size
    except CalibrationError as exc:
        key = "homography" if top.homography is not None else "calibration"
        raise where.error(key, str(exc).removeprefix(f"{where.source}: homography: ")) from None
    return None, size


def _zone(name: str, spec: Any, where: _Where) -> Zone:
    try:
        z = build(_ZoneSpec, spec, f"zones.{name}")
    except ConfigError as exc:
        raise where.from_config_error(exc) from None
    problem = polygon_problem(np.array(z.polygon, np.float64).reshape(-1, 2))
    if problem:
        raise where.error(f"zones.{name}.polygon", problem)
    if z.max_count is not None and z.max_count < 0:
        raise where.error(f"zones.{name}.max_count", f"expected >= 0, got {z.max_count}")
    return Zone(name, np.array(z.polygon, np.float64), z.classes, z.direction_deg, z.speed_limit, z.max_count)


def _line(name: str, spec: Any, frame: Frame, where: _Where) -> Tripwire:
    try:
        ln = build(_LineSpec, spec, f"lines.{name}")
    except ConfigError as exc:
        raise where.from_config_error(exc) from None
    key = f"lines.{name}.points"
    if len(ln.points) != 2:
        raise where.error(key, f"a line needs 2 points [[x, y], [x, y]], got {len(ln.points)}")
    (ax, ay), (bx, by) = ln.points
    if not np.all(np.isfinite([ax, ay, bx, by])) or (ax, ay) == (bx, by):
        raise where.error(key, "the 2 points must be finite and distinct")
    if not ln.margin >= 0:
        raise where.error(f"lines.{name}.margin", f"expected >= 0, got {ln.margin}")
    return Tripwire(name, (ax, ay), (bx, by), ln.direction, ln.margin, frame, ln.classes)


def _footprint(H: np.ndarray, size: tuple[int, int]) -> shapely.Geometry:
    """The ground the image sees: convex hull of a grid of pixels below the horizon, mapped by H."""
    u, v = np.meshgrid(np.linspace(0, size[0], 33), np.linspace(0, size[1], 33))
    ground = apply_homography(H, np.stack([u.ravel(), v.ravel()], axis=1))
    return shapely.MultiPoint(ground[np.all(np.isfinite(ground), axis=1)]).convex_hull


def _check_in_image(zones: Mapping[str, Zone], lines: Mapping[str, Tripwire], frame: Frame,
                    H: np.ndarray | None, size: tuple[int, int], where: _Where) -> None:
    shapes = {f"zones.{n}.polygon": z.polygon for n, z in zones.items()}
    shapes.update({f"lines.{n}.points": np.array([ln.a, ln.b]) for n, ln in lines.items()})
    if frame == "image":
        for key, pts in shapes.items():
            out = np.nonzero(np.any((pts < 0) | (pts > np.array(size, np.float64)), axis=1))[0]
            if len(out):
                x, y = pts[out[0]]
                raise where.error(key, f"point {out[0] + 1} ({x:g}, {y:g}) is outside the "
                                       f"{size[0]}x{size[1]} image")
    elif H is not None:
        seen = _footprint(H, size)
        for key, pts in shapes.items():
            geom = shapely.Polygon(pts) if key.startswith("zones") else shapely.LineString(pts)
            if not geom.intersects(seen):
                raise where.error(key, f"lies outside the {size[0]}x{size[1]} image (no part of it is "
                                       "seen through the homography)")


def _rules(entries: list[Any], zones: Mapping[str, Zone], lines: Mapping[str, Tripwire],
           where: _Where) -> tuple[SceneRule, ...]:
    built: list[tuple[str, str, RuleConfig]] = []
    for i, entry in enumerate(entries):
        key = f"rules[{i}]"
        if not isinstance(entry, Mapping):
            raise where.error(key, f"expected a mapping with a 'type', got {entry!r}")
        if "type" not in entry:
            raise where.error(key, "missing required key 'type'")
        rtype = entry["type"]
        if rtype not in RULE_TYPES:
            raise where.error(f"{key}.type", f"unknown rule type {rtype!r}; known: {sorted(RULE_TYPES)}")
        cls = RULE_TYPES[rtype]
        try:
            config = build(cls.Config, {k: v for k, v in entry.items() if k != "type"}, key)
        except ConfigError as exc:
            raise where.from_config_error(exc) from None
        problem = cls.check(config, zones, lines)
        if problem is not None:
            raise where.error(f"{key}.{problem[0]}", problem[1])
        built.append((key, rtype, config))
    counts = {t: sum(1 for _, r, _ in built if r == t) for _, t, _ in built}
    out: list[SceneRule] = []
    for key, rtype, config in built:
        place = getattr(config, "line", "") or config.zone
        name = config.name or (rtype if counts[rtype] == 1 or not place else f"{rtype}_{place}")
        if any(r.name == name for r in out):
            raise where.error(f"{key}.name" if config.name else key,
                              f"duplicate rule name {name!r}; give each rule of a type a distinct 'name'")
        out.append(SceneRule(name, rtype, config))
    return tuple(out)
