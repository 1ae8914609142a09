import logging

import pytest

from sensors.ars408 import Ars408SourceConfig
from sensors.polling import require_polling, warn_bad
from sensors.velodyne import VelodyneSourceConfig


def test_warn_bad_logs_the_first_ten_then_every_thousandth(caplog):
    log = logging.getLogger("test.polling")
    with caplog.at_level(logging.WARNING, logger="test.polling"):
        for n in range(1, 2001):
            warn_bad(log, n, "dev: skipping bad frame", f"frame {n}")
    counts = [int(r.getMessage().split("(")[1].split()[0]) for r in caplog.records]
    assert counts == [*range(1, 11), 1000, 2000]
    assert caplog.records[0].getMessage() == "dev: skipping bad frame (1 so far): frame 1"


@pytest.mark.parametrize(("cls", "batch"), [(Ars408SourceConfig, "max_frames_per_poll"),
                                            (VelodyneSourceConfig, "max_packets_per_poll")])
def test_sources_share_the_polling_check(cls, batch):
    for bad in ({"poll_period_s": 0.0}, {batch: 0}):
        with pytest.raises(ValueError, match=f"poll_period_s and {batch} must be > 0"):
            cls(**bad)
    require_polling(cls(), "poll_period_s", batch)  # the defaults pass
    assert cls().poll_period_s > 0 and getattr(cls(), batch) > 0


@pytest.mark.parametrize(("cls", "name", "bad", "message"), [
    (Ars408SourceConfig, "sensor_id", 8, r"sensor_id: expected 0\.\.7, got 8"),
    (Ars408SourceConfig, "sensor_id", -1, r"sensor_id: expected 0\.\.7, got -1"),
    (VelodyneSourceConfig, "port", 65536, r"port: expected 0\.\.65535, got 65536"),
])
def test_sources_check_the_device_address_first(cls, name, bad, message):
    with pytest.raises(ValueError, match=message):
        cls(**{name: bad, "poll_period_s": 0.0})  # the address is reported before the polling fields
