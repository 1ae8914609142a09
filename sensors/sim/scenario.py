"""Scenario files: the YAML schema of a simulated world, as frozen dataclasses.

A scenario names the ego (optional), scripted actors, random crowds, zones and lines, the
thresholds that define the scripted anomalies, and the sensors. All positions are in the
``world`` frame (metres, x east/forward, y north/left, z up, ground at z = 0), angles in degrees,
times in seconds from the start of the simulation. Built-in scenarios live in
``sensors/sim/scenarios/*.yaml`` and are loaded by name; any other YAML file by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from percept.config import build, load_yaml
from percept.errors import ConfigError
from sensors.errors import SensorError
from sensors.sim.classes import CLASSES

ANOMALY_TYPES = ("intrusion", "loitering", "wrong_way", "abandoned_object", "running")
MountName = Literal["ego", "world"]


@dataclass(frozen=True)
class LaneChange:
    """A smooth lateral shift of an actor's path: ``offset_m`` (+ left) over ``duration_s``."""

    at_s: float
    offset_m: float
    duration_s: float = 3.0


@dataclass(frozen=True)
class ActorSpec:
    """One scripted actor.

    Attributes:
        name: unique name (used by ``carried_by`` and in logs).
        cls: ``car``, ``truck``, ``pedestrian``, ``cyclist`` or ``bag``.
        path: waypoints ``[[x, y], ...]`` (one point: a fixed position facing ``yaw_deg``).
        speed: ``[[t_s, target_mps], ...]`` or ``[[t_s, target_mps, accel_mps2], ...]``: from
            ``t_s`` on the actor tracks the target speed with at most ``accel_mps2`` (default:
            the class limits).
        waits: ``[[waypoint_index, duration_s], ...]``: stop at that waypoint for that long.
        lane_changes: lateral path offsets in time (cut-ins, lane changes).
        follow: keep a safe gap to the actor ahead (intelligent driver model).
        spawn_s: the actor appears at this time.
        at_end: at the end of its path ``continue`` straight, ``stop`` or ``despawn``.
        heading_noise_deg: std of the heading noise of walkers (deg, Ornstein-Uhlenbeck).
        anomaly: scripted anomaly this actor performs (ground truth on ``gt/events``).
        zone: the zone of an ``intrusion`` anomaly.
        carried_by, drop_at_waypoint: a ``bag`` carried by actor ``carried_by`` and put down
            when that actor starts waiting at waypoint ``drop_at_waypoint``.
        size: ``[l, w, h]`` metres overriding the class size.
    """

    name: str
    cls: str = "car"
    path: tuple[tuple[float, float], ...] = ()
    yaw_deg: float = 0.0
    speed: tuple[tuple[float, ...], ...] = ((0.0, 0.0),)
    waits: tuple[tuple[int, float], ...] = ()
    lane_changes: tuple[LaneChange, ...] = ()
    follow: bool = False
    spawn_s: float = 0.0
    at_end: Literal["continue", "stop", "despawn"] = "continue"
    heading_noise_deg: float = 4.0
    anomaly: str | None = None
    zone: str | None = None
    carried_by: str | None = None
    drop_at_waypoint: int = 0
    size: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class CrowdSpec:
    """``count`` random walkers inside ``region`` (polygon ``[[x, y], ...]``).

    With ``flow_deg`` set they walk in that direction (plus noise) and re-enter upstream, as a
    new track, when they leave; without it they wander and turn back at the region's edge.
    """

    count: int
    region: tuple[tuple[float, float], ...]
    speed_mps: tuple[float, float] = (1.3, 0.2)
    flow_deg: float | None = None
    heading_noise_deg: float = 8.0
    cls: str = "pedestrian"


@dataclass(frozen=True)
class RuleSpec:
    """Thresholds that define the scripted anomalies' ground truth (:mod:`sensors.sim.anomalies`).

    Attributes:
        loiter_s, loiter_radius_m: ``loitering``: the actor stays within this radius (m) of one
            spot for this long (s).
        run_speed_mps, run_s: ``running``: faster than this speed (m/s) for this long (s).
        wrong_way_s: ``wrong_way``: moving against the scenario's ``flow_deg`` for this long (s).
        abandon_distance_m, abandon_s: ``abandoned_object``: the bag's owner is farther than this
            (m), or gone, for this long (s).
    """

    loiter_s: float = 10.0
    loiter_radius_m: float = 3.0
    run_speed_mps: float = 2.8
    run_s: float = 1.0
    wrong_way_s: float = 1.0
    abandon_distance_m: float = 4.0
    abandon_s: float = 5.0


@dataclass(frozen=True)
class MountSpec:
    """Where a sensor sits: on the ``ego`` or fixed in the ``world``; ``xyz`` metres, ``rpy_deg``
    roll/pitch/yaw of the sensor body (x forward, z up; positive pitch looks down)."""

    mount: MountName = "ego"
    xyz: tuple[float, float, float] = (0.0, 0.0, 1.5)
    rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class DetectorSpec:
    """The simulated 2D detector of one camera (see :mod:`sensors.sim.detector` for the model).

    Attributes:
        enabled: publish detections for this camera at all.
        latency_ms, latency_jitter_ms: mean and standard deviation of the detection delay (ms).
        box_noise_frac, box_noise_px: corner noise (std) as a fraction of the box size plus pixels.
        miss_base, miss_occlusion, miss_distance: miss probability terms: always, times the hidden
            fraction, times ``(depth / max_range_m) ** 2``.
        max_range_m: actors deeper than this (m) are never detected.
        min_visible: actors with a smaller visible fraction are never detected.
        false_positives_per_frame: mean of the Poisson number of false boxes per frame.
    """

    enabled: bool = True
    latency_ms: float = 40.0
    latency_jitter_ms: float = 5.0
    box_noise_frac: float = 0.03
    box_noise_px: float = 1.0
    miss_base: float = 0.02
    miss_occlusion: float = 0.9
    miss_distance: float = 0.25
    max_range_m: float = 120.0
    min_visible: float = 0.1
    false_positives_per_frame: float = 0.2


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera with a horizontal field of view ``hfov_deg`` and no distortion.

    Attributes:
        name, frame_id: the camera's name (topics) and the frame of its images.
        mount: where it sits; width, height: image size (pixels); rate_hz: frames per second.
        detector: its simulated 2D detector.
    """

    name: str
    frame_id: str
    mount: MountSpec = field(default_factory=MountSpec)
    width: int = 640
    height: int = 360
    hfov_deg: float = 90.0
    rate_hz: float = 10.0
    detector: DetectorSpec = field(default_factory=DetectorSpec)


@dataclass(frozen=True)
class LidarSpec:
    """A spinning lidar: ``beams`` elevations evenly spread over ``elevation_deg`` (min, max).

    Attributes:
        name, frame_id, mount: as for :class:`CameraSpec`; rate_hz: revolutions per second.
        azimuth_step_deg: angle between two firings of a beam.
        max_range_m: rays hit nothing beyond this (m).
        range_noise_m: standard deviation of the range noise (m).
        dropout: probability that a return is lost.
    """

    name: str = "top"
    frame_id: str = "lidar_top"
    mount: MountSpec = field(default_factory=lambda: MountSpec(xyz=(0.0, 0.0, 1.9)))
    beams: int = 16
    elevation_deg: tuple[float, float] = (-15.0, 15.0)
    azimuth_step_deg: float = 0.4
    max_range_m: float = 100.0
    range_noise_m: float = 0.02
    dropout: float = 0.02
    rate_hz: float = 10.0


@dataclass(frozen=True)
class RadarSpec:
    """A forward radar returning one target per visible object plus clutter.

    Attributes:
        name, frame_id, mount: as for :class:`CameraSpec`; rate_hz: scans per second.
        fov_deg, max_range_m: full horizontal field of view (deg) and the farthest return (m).
        range_noise_m, azimuth_noise_deg, range_rate_noise_mps, rcs_noise_db: standard
            deviations of the measurement noise.
        miss: probability that an object returns nothing in a scan.
        clutter_per_scan: mean of the Poisson number of clutter returns per scan.
        clock_offset_ms: the radar's clock runs this far ahead of simulation time.
    """

    name: str = "front"
    frame_id: str = "radar_front"
    mount: MountSpec = field(default_factory=lambda: MountSpec(xyz=(2.3, 0.0, 0.5)))
    fov_deg: float = 90.0
    max_range_m: float = 150.0
    range_noise_m: float = 0.15
    azimuth_noise_deg: float = 0.5
    range_rate_noise_mps: float = 0.1
    rcs_noise_db: float = 2.0
    miss: float = 0.05
    clutter_per_scan: float = 2.0
    clock_offset_ms: float = 0.0
    rate_hz: float = 20.0


@dataclass(frozen=True)
class SensorsSpec:
    """All sensors of a scenario."""

    cameras: tuple[CameraSpec, ...] = ()
    lidars: tuple[LidarSpec, ...] = ()
    radars: tuple[RadarSpec, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A whole simulated world (see the module docstring for frames and units)."""

    name: str
    description: str = ""
    duration_s: float = 30.0
    step_ms: int = 10
    ego: ActorSpec | None = None
    actors: tuple[ActorSpec, ...] = ()
    crowds: tuple[CrowdSpec, ...] = ()
    zones: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    lines: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    flow_deg: float | None = None
    rules: RuleSpec = field(default_factory=RuleSpec)
    sensors: SensorsSpec = field(default_factory=SensorsSpec)


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``sensors/sim/scenarios``."""
    folder = resources.files("sensors.sim").joinpath("scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name or any scenario YAML by path; errors name the key."""
    text = str(name_or_path)
    if text in builtin_scenarios():
        ref = resources.files("sensors.sim").joinpath(f"scenarios/{text}.yaml")
        with resources.as_file(ref) as p:
            data, where = load_yaml(p), f"scenario {text}"
    else:
        p = Path(text)
        if not p.is_file():
            raise SensorError(f"scenario {text!r}: not a built-in ({builtin_scenarios()}) nor a file")
        data, where = load_yaml(p), str(p)
    return validate(build(Scenario, data, where), where)


def validate(sc: Scenario, where: str) -> Scenario:
    """Cross-field checks the dataclass types cannot express; raises ConfigError naming the key."""
    if sc.step_ms <= 0:
        raise ConfigError(f"{where}.step_ms: expected > 0, got {sc.step_ms}")
    names = [a.name for a in sc.actors]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.actors: duplicate names {sorted(names)}")
    specs = [("ego", sc.ego)] if sc.ego is not None else []
    specs += [(f"actors[{i}]", a) for i, a in enumerate(sc.actors)]
    for key, a in specs:
        w = f"{where}.{key}"
        if a.cls not in CLASSES:
            raise ConfigError(f"{w}.cls: expected one of {list(CLASSES)}, got {a.cls!r}")
        if not a.path and a.carried_by is None:
            raise ConfigError(f"{w}.path: expected at least one waypoint")
        if any(len(s) not in (2, 3) for s in a.speed):
            raise ConfigError(f"{w}.speed: expected [t_s, mps] or [t_s, mps, accel] items")
        if a.anomaly is not None and a.anomaly not in ANOMALY_TYPES:
            raise ConfigError(f"{w}.anomaly: expected one of {list(ANOMALY_TYPES)}, got {a.anomaly!r}")
        if a.anomaly == "intrusion" and a.zone not in sc.zones:
            raise ConfigError(f"{w}.zone: expected one of the zones {sorted(sc.zones)}, got {a.zone!r}")
        if a.anomaly == "wrong_way" and sc.flow_deg is None:
            raise ConfigError(f"{w}.anomaly: wrong_way needs the scenario's flow_deg")
        if a.carried_by is not None and a.carried_by not in names:
            raise ConfigError(f"{w}.carried_by: no actor named {a.carried_by!r}")
        for k, (wp, _dur) in enumerate(a.waits):
            if not 0 <= wp < max(len(a.path), 1):
                raise ConfigError(f"{w}.waits[{k}]: waypoint {wp} out of range 0..{len(a.path) - 1}")
    for i, c in enumerate(sc.crowds):
        if len(c.region) < 3:
            raise ConfigError(f"{where}.crowds[{i}].region: expected a polygon of >= 3 points")
    for kind, items in (("zones", sc.zones), ("lines", sc.lines)):
        need = 3 if kind == "zones" else 2
        for n, pts in items.items():
            if len(pts) < need:
                raise ConfigError(f"{where}.{kind}.{n}: expected >= {need} points, got {len(pts)}")
    frames = [s.frame_id for group in (sc.sensors.cameras, sc.sensors.lidars, sc.sensors.radars)
              for s in group]
    if len(set(frames)) != len(frames):
        raise ConfigError(f"{where}.sensors: duplicate frame_id in {frames}")
    mounts = [s.mount.mount for g in (sc.sensors.cameras, sc.sensors.lidars, sc.sensors.radars) for s in g]
    if sc.ego is None and "ego" in mounts:
        raise ConfigError(f"{where}.sensors: a sensor is mounted on the ego but the scenario has no ego")
    return sc
