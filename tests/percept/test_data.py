"""Where shared data and models are found: env vars, a source checkout, or an installed wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

import percept.data as data
from percept.data import DataNotFound, checkout_root, data_dir, data_path, model_path, models_dir
from percept.errors import PerceptError


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("PERCEPT_DATA", raising=False)
    monkeypatch.delenv("PERCEPT_MODELS", raising=False)
    return monkeypatch


def _shared(tmp: Path) -> tuple[Path, Path]:
    (tmp / "shared" / "data" / "kitti").mkdir(parents=True)
    (tmp / "shared" / "models").mkdir()
    (tmp / "shared" / "models" / "net.onnx").write_bytes(b"x")
    return tmp / "shared" / "data", tmp / "shared" / "models"


def test_this_tree_is_a_checkout() -> None:
    assert checkout_root() == Path(__file__).resolve().parents[2]


def test_env_vars_come_first(tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    data_root, models_root = _shared(tmp_path)
    no_env.setattr(data, "PROJECT_ROOT", tmp_path / "site-packages")  # installed: env still works
    no_env.setenv("PERCEPT_DATA", str(data_root))
    assert data_dir() == data_root and data_path("kitti") == data_root / "kitti"
    assert models_dir() == models_root  # models beside the data folder
    other = tmp_path / "elsewhere"
    no_env.setenv("PERCEPT_MODELS", str(other))
    assert models_dir() == other
    with pytest.raises(DataNotFound, match=r"elsewhere/net.onnx \(set PERCEPT_MODELS\)"):
        model_path("net.onnx")
    with pytest.raises(DataNotFound, match=r"kitti/absent \(set PERCEPT_DATA\)"):
        data_path("kitti", "absent")


def test_checkout_uses_shared_beside_the_project(tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    data_root, models_root = _shared(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'percept'\n")
    no_env.setattr(data, "PROJECT_ROOT", project)
    assert checkout_root() == project
    assert data_path("kitti") == data_root / "kitti"
    assert model_path("net.onnx") == models_root / "net.onnx"


def test_installed_wheel_asks_for_percept_data(tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    _shared(tmp_path)  # a ../shared exists, but an installed package must not guess it
    site = tmp_path / "site-packages"
    site.mkdir()
    no_env.setattr(data, "PROJECT_ROOT", site)
    assert checkout_root() is None
    for call in (data_dir, lambda: data_path("kitti")):
        with pytest.raises(DataNotFound, match="set PERCEPT_DATA") as info:
            call()
        assert isinstance(info.value, PerceptError) and "\n" not in str(info.value)
    with pytest.raises(DataNotFound, match="set PERCEPT_MODELS"):
        model_path("net.onnx")
