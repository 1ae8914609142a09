"""TrackSet: duplicate tracks of one object are merged into the better-supported one."""

from __future__ import annotations

import numpy as np

from fusion.fusion_config import ClassConfig
from fusion.trackset import TrackSet


def _set(merge_iou: float) -> TrackSet:
    tracks = TrackSet(ClassConfig(merge_iou=merge_iou, min_hits=1))
    X = np.zeros((3, 10))
    X[:, :3] = [[10.0, 0.0, 0.75], [10.6, 0.1, 0.75], [10.0, 3.5, 0.75]]  # two on one car, one a lane over
    X[:, 4:7] = (4.5, 1.8, 1.5)
    tracks.add(np.array([1, 2, 3]), X, np.broadcast_to(np.eye(10), (3, 10, 10)).copy(), np.ones(3), 0, 1)
    tracks.hits[:] = [2, 7, 4]
    return tracks


def test_the_weaker_of_two_overlapping_tracks_goes() -> None:
    tracks = _set(0.1)
    assert tracks.merge_duplicates() == 1
    assert tracks.ids.tolist() == [2, 3]  # the one with more hits stays, the neighbour too
    assert _set(0.0).merge_duplicates() == 0  # off by default
