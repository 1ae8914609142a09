"""The radar clusterer on the shared View-of-Delft frames, one default configuration.

Figures measured when this was written (``bench/radar_objects.py``): 27 of the 31 labelled moving
objects found (a moving cluster within 2 m on the ground plane), 26 of the 27 with a radar target
on them; 5 of the 20 moving clusters in the camera's view are false. The test fails if it
gets worse.
"""

from __future__ import annotations

import pytest

from perception.radar import RadarObjectClusterer
from perception.radar.evaluate import evaluate_vod, total


@pytest.mark.data
def test_moving_objects_found_without_regression(shared_data):
    results = evaluate_vod(RadarObjectClusterer(), shared_data("vod"))
    assert [r.sample for r in results] == ["00549", "01047", "01201"]
    t = total(results)
    assert t.moving.labels == 31 and t.visible.labels == 27
    assert t.moving.found >= 27 and t.visible.found >= 26
    assert t.moving.false <= 5
