"""The lidar object extractor on the shared KITTI object and View-of-Delft lidar samples.

One default configuration for every sample (nothing tuned per sample). The KITTI object samples
hold no labelled Car within 30 m (their Cars are 35 and 61 m away); View-of-Delft's lidar frames
hold one (a parked car at 9 m), so the 30 m figure rests on one Car and the 50 m figure is
checked too. ``bench/lidar_objects.py`` prints the same figures per sample.
"""

from __future__ import annotations

import pytest

from perception.lidar import LidarObjectExtractor
from perception.lidar.evaluate import evaluate_roots, total


@pytest.fixture
def roots(shared_data) -> dict:
    return {"kitti": shared_data("kitti_object", "training"), "vod": shared_data("vod", "lidar", "training")}


@pytest.mark.data
def test_cars_within_30_m_found_with_the_default_config(roots):
    results = evaluate_roots(LidarObjectExtractor(), roots, max_range=30.0)
    t = total(results)
    assert t.target.labels >= 1  # a figure over no Car would say nothing
    assert t.target.recall >= 0.8
    assert t.target_as_class.recall >= 0.8  # and they are guessed as Car
    assert t.objects.labels >= 40 and t.objects.recall >= 0.7  # every labelled type, any detection


@pytest.mark.data
def test_cars_within_50_m(roots):
    t = total(evaluate_roots(LidarObjectExtractor(), roots, max_range=50.0))
    assert t.target.labels >= 2 and t.target.recall >= 0.8
