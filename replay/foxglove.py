"""Foxglove protobuf views of percept messages, written next to the wire bytes in a log.

Each percept topic ``T`` with a known schema gets a view channel ``T/foxglove`` (message
encoding ``protobuf``) so that Foxglove Studio and the ``mcap`` tools can show the log:

* ``percept.Image`` -> ``foxglove.RawImage`` (bgr8, rgb8, mono8, mono16) or
  ``foxglove.CompressedImage`` (jpeg, png);
* ``percept.PointCloud`` -> ``foxglove.PointCloud`` (packed float32 fields, stride 4*C bytes);
* ``percept.Detections2D`` and image ``percept.Tracks`` (state fields ``x1, y1, x2, y2``, pixels)
  -> ``foxglove.ImageAnnotations`` (box outlines as ``LINE_LOOP`` points, text labels);
* ``percept.Detections3D`` and 3D ``percept.Tracks`` (state fields ``x, y, z``, metres, with
  optional ``l, w, h`` / ``length, width, height`` and ``yaw``) -> ``foxglove.SceneUpdate``
  (one ``CubePrimitive`` entity per object, in the message's ``frame_id``, upright both in z-up
  frames and in y-down camera frames such as KITTI's ``camera_0_rect``: :func:`vertical_axis`);
* ``percept.Event`` -> ``foxglove.Log``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from foxglove_schemas_protobuf.Color_pb2 import Color
from foxglove_schemas_protobuf.CompressedImage_pb2 import CompressedImage
from foxglove_schemas_protobuf.CubePrimitive_pb2 import CubePrimitive
from foxglove_schemas_protobuf.ImageAnnotations_pb2 import ImageAnnotations
from foxglove_schemas_protobuf.Log_pb2 import Log
from foxglove_schemas_protobuf.PackedElementField_pb2 import PackedElementField
from foxglove_schemas_protobuf.Point2_pb2 import Point2
from foxglove_schemas_protobuf.PointCloud_pb2 import PointCloud
from foxglove_schemas_protobuf.PointsAnnotation_pb2 import PointsAnnotation
from foxglove_schemas_protobuf.Pose_pb2 import Pose
from foxglove_schemas_protobuf.Quaternion_pb2 import Quaternion
from foxglove_schemas_protobuf.RawImage_pb2 import RawImage
from foxglove_schemas_protobuf.SceneEntity_pb2 import SceneEntity
from foxglove_schemas_protobuf.SceneUpdate_pb2 import SceneUpdate
from foxglove_schemas_protobuf.TextAnnotation_pb2 import TextAnnotation
from foxglove_schemas_protobuf.Vector3_pb2 import Vector3
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message as Proto
from google.protobuf.timestamp_pb2 import Timestamp
from mcap_protobuf.schema import build_file_descriptor_set

from percept.codec import decode
from percept.errors import DecodeError
from percept.message import Message
from percept.messages import Detections2D, Detections3D, Event, Image, Tracks

#: percept schemas that have a view
VIEW_SCHEMAS = ("percept.Image", "percept.PointCloud", "percept.Detections2D", "percept.Detections3D",
                "percept.Tracks", "percept.Event")
VIEW_SUFFIX = "/foxglove"
_BOX_COLOR = Color(r=0.1, g=0.9, b=0.2, a=1.0)
_TEXT_COLOR = Color(r=1.0, g=1.0, b=1.0, a=1.0)
_TEXT_BG = Color(r=0.0, g=0.0, b=0.0, a=0.6)
_CUBE_COLOR = Color(r=0.2, g=0.6, b=1.0, a=0.5)
_IMAGE_BOX_FIELDS = ("x1", "y1", "x2", "y2")
_CAMERA_FRAME = re.compile(r"(camera|cam)([_-].*|\d.*)?|.*_optical(_frame)?")


def view_topic(topic: str) -> str:
    """Name of the Foxglove view channel of percept topic ``topic``."""
    return topic + VIEW_SUFFIX


@cache
def schema_data(proto_cls: type[Proto]) -> bytes:
    """Serialized ``FileDescriptorSet`` of ``proto_cls`` and all its dependencies (MCAP schema data)."""
    return build_file_descriptor_set(proto_cls).SerializeToString()


def _stamp(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def _label(names: Sequence[str], class_id: int) -> str:
    return names[class_id] if 0 <= class_id < len(names) else str(class_id)


def image_view(msg: Image) -> Proto:
    """RawImage for raw encodings, CompressedImage for jpeg/png."""
    ts = _stamp(msg.stamp_ns)
    if msg.encoding in Image.COMPRESSED:
        return CompressedImage(timestamp=ts, frame_id=msg.frame_id, format=msg.encoding,
                               data=msg.data.tobytes())
    data = np.ascontiguousarray(msg.data)
    return RawImage(timestamp=ts, frame_id=msg.frame_id, width=msg.width, height=msg.height,
                    encoding=msg.encoding, step=data.strides[0], data=data.tobytes())


def pointcloud_view(msg: Any) -> Proto:
    """PointCloud with one FLOAT32 packed field per column of ``msg.points`` (N, C)."""
    pts = np.ascontiguousarray(msg.points, dtype="<f4")
    fields = [PackedElementField(name=n, offset=4 * i, type=PackedElementField.FLOAT32)
              for i, n in enumerate(msg.fields)]
    return PointCloud(timestamp=_stamp(msg.stamp_ns), frame_id=msg.frame_id,
                      pose=Pose(position=Vector3(), orientation=Quaternion(w=1.0)),
                      point_stride=4 * pts.shape[1], fields=fields, data=pts.tobytes())


def box_annotations(stamp_ns: int, xyxy: np.ndarray, labels: Sequence[str]) -> Proto:
    """ImageAnnotations: a LINE_LOOP outline and a text label per (N, 4) pixel box."""
    ts = _stamp(stamp_ns)
    out = ImageAnnotations()
    for (x1, y1, x2, y2), label in zip(xyxy.tolist(), labels, strict=True):
        out.points.append(PointsAnnotation(
            timestamp=ts, type=PointsAnnotation.LINE_LOOP, outline_color=_BOX_COLOR, thickness=2.0,
            points=[Point2(x=x1, y=y1), Point2(x=x2, y=y1), Point2(x=x2, y=y2), Point2(x=x1, y=y2)]))
        out.texts.append(TextAnnotation(timestamp=ts, position=Point2(x=x1, y=y1), text=label,
                                        font_size=12.0, text_color=_TEXT_COLOR, background_color=_TEXT_BG))
    return out


def vertical_axis(frame_id: str) -> str:
    """The vertical axis of 3D boxes in ``frame_id``: ``"y"`` or ``"z"`` (see :mod:`fusion.geometry3d`).

    ``"y"`` (a camera frame as in KITTI: x right, y down, z forward; ``yaw`` turns about +y) for
    the frame ids ``camera`` or ``cam``, alone or followed by ``_``, ``-`` or a digit
    (``camera_0_rect``, ``camera_left``, ``cam0``), and ROS optical frames ending in ``_optical``
    or ``_optical_frame`` (case-insensitive). ``"z"`` (z up, ``yaw`` about +z) for
    every other frame (``lidar``, ``velodyne``, ``ego``, ``base``, ``world``, ``map``).
    """
    return "y" if _CAMERA_FRAME.fullmatch(frame_id.lower()) else "z"


def _cube_pose(centre: Sequence[float], size: Sequence[float], yaw: float, vertical: str) -> tuple[
        Vector3, Quaternion, Vector3]:
    """Foxglove cube (position, orientation, size) of a box: geometric ``centre`` (3,) m, ``size``
    ``(l, w, h)`` m, heading ``yaw`` rad about the ``vertical`` axis. The cube's local x runs along the
    heading; in a y-down frame its local y is the (downward) height axis and local z the width."""
    length, width, height = (float(v) for v in size)
    half = yaw / 2
    if vertical == "y":
        quat = Quaternion(x=0.0, y=math.sin(half), z=0.0, w=math.cos(half))
        dims = Vector3(x=length, y=height, z=width)
    else:
        quat = Quaternion(x=0.0, y=0.0, z=math.sin(half), w=math.cos(half))
        dims = Vector3(x=length, y=width, z=height)
    cx, cy, cz = (float(v) for v in centre)
    return Vector3(x=cx, y=cy, z=cz), quat, dims


def cube_scene(stamp_ns: int, frame_id: str, ids: Sequence[str], centre: np.ndarray, size: np.ndarray,
               yaw: np.ndarray, labels: Sequence[str]) -> Proto:
    """SceneUpdate with one entity holding one cube per object: geometric centre (N, 3) m, size
    ``(l, w, h)`` (N, 3) m, yaw (N,) rad, in ``frame_id`` of the convention :func:`vertical_axis` names."""
    ts = _stamp(stamp_ns)
    vertical = vertical_axis(frame_id)
    out = SceneUpdate()
    for i, ident in enumerate(ids):
        position, orientation, dims = _cube_pose(centre[i], size[i], float(yaw[i]), vertical)
        out.entities.append(SceneEntity(
            timestamp=ts, frame_id=frame_id, id=ident, lifetime=Duration(nanos=200_000_000),
            cubes=[CubePrimitive(pose=Pose(position=position, orientation=orientation), size=dims,
                                 color=_CUBE_COLOR)],
            metadata=[]))
        out.entities[-1].metadata.add(key="label", value=labels[i])
    return out


def track_columns(msg: Tracks, names: Sequence[Sequence[str]]) -> np.ndarray | None:
    """float32 (N, len(names)) state columns, each found under one of its aliases; None if any is missing."""
    cols: list[int] = []
    for aliases in names:
        idx = next((msg.state_fields.index(a) for a in aliases if a in msg.state_fields), None)
        if idx is None:
            return None
        cols.append(idx)
    return msg.state[:, cols]


def tracks_3d(msg: Tracks) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Centre (N, 3) m, size (N, 3) m (1 m where absent) and yaw (N,) rad of 3D tracks, or None."""
    centre = track_columns(msg, (("x",), ("y",), ("z",)))
    if centre is None:
        return None
    size = track_columns(msg, (("l", "length"), ("w", "width"), ("h", "height")))
    yaw = track_columns(msg, (("yaw", "ry", "heading"),))
    n = len(msg)
    return (centre, np.ones((n, 3), np.float32) if size is None else size,
            np.zeros(n, np.float32) if yaw is None else yaw[:, 0])


def message_view(msg: Message) -> Proto | None:
    """The Foxglove view of ``msg``, or ``None`` when its schema (or state layout) has none."""
    if isinstance(msg, Image):
        return image_view(msg)
    if msg.SCHEMA == "percept.PointCloud":
        return pointcloud_view(msg)
    if isinstance(msg, Detections2D):
        d = msg.detections
        labels = [f"{_label(msg.class_names, int(c))} {s:.2f}" for c, s in zip(d.class_id, d.confidence,
                                                                                   strict=True)]
        return box_annotations(msg.stamp_ns, d.xyxy, labels)
    if isinstance(msg, Tracks):
        labels = [f"#{int(t)} {_label(msg.class_names, int(c))}" for t, c in zip(msg.track_id, msg.class_id,
                                                                                  strict=True)]
        boxes = track_columns(msg, [(f,) for f in _IMAGE_BOX_FIELDS])
        if boxes is not None:
            return box_annotations(msg.stamp_ns, boxes, labels)
        geo = tracks_3d(msg)
        if geo is None:
            return None
        return cube_scene(msg.stamp_ns, msg.frame_id, [str(int(t)) for t in msg.track_id], *geo, labels)
    if isinstance(msg, Detections3D):
        labels = [_label(msg.class_names, int(c)) for c in msg.class_id]
        return cube_scene(msg.stamp_ns, msg.frame_id, [str(i) for i in range(len(msg))], msg.centre,
                          msg.size, msg.yaw, labels)
    if isinstance(msg, Event):
        level = {"info": Log.INFO, "warning": Log.WARNING, "critical": Log.ERROR}[msg.severity]
        text = msg.text or f"{msg.event_type} zone={msg.zone} tracks={list(msg.track_ids)}"
        return Log(timestamp=_stamp(msg.stamp_ns), level=level, message=text, name=msg.event_type,
                   file=msg.frame_id)
    return None


def frames_view(frames: Sequence[Any]) -> tuple[Message, Proto | None]:
    """Decode wire ``frames`` and build their view.

    Raises:
        DecodeError: the frames are not a valid percept message.
    """
    msg = decode(frames).msg
    return msg, message_view(msg)


__all__ = ["VIEW_SCHEMAS", "DecodeError", "frames_view", "message_view", "schema_data", "vertical_axis",
           "view_topic"]
