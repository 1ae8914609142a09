"""Shared fixtures: shared-data access that skips (or fails in CI) when data are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from percept.data import DataNotFound, data_path, model_path


def _missing(exc: DataNotFound) -> None:
    if os.environ.get("PERCEPT_REQUIRE_DATA") == "1":
        pytest.fail(f"PERCEPT_REQUIRE_DATA=1 but {exc}")
    pytest.skip(str(exc))


@pytest.fixture
def shared_data():
    """Function ``(*parts) -> Path`` into the shared data; skips when absent (fails in CI)."""

    def get(*parts: str) -> Path:
        try:
            return data_path(*parts)
        except DataNotFound as exc:
            _missing(exc)
            raise

    return get


@pytest.fixture
def shared_model():
    """Function ``(name) -> Path`` into the shared models; skips when absent (fails in CI)."""

    def get(name: str) -> Path:
        try:
            return model_path(name)
        except DataNotFound as exc:
            _missing(exc)
            raise

    return get


@pytest.fixture
def short_tmp(tmp_path_factory) -> Path:
    """A short temporary folder (ipc socket paths must stay under ~100 characters)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="pt-", dir="/tmp"))
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)
