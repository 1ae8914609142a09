"""Image files on disk: the one set of image suffixes and the one way to list an image folder."""

from __future__ import annotations

import re
from pathlib import Path

#: Suffixes (lower case) that OpenCV's ``imread`` reads and percept treats as image files.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def is_image_file(path: Path) -> bool:
    """True for a regular file whose suffix (any case) is in :data:`IMAGE_SUFFIXES`."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def natural_key(path: Path) -> list[int | str]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, in natural order (empty list when there are none)."""
    return sorted((p for p in Path(folder).iterdir() if is_image_file(p)), key=natural_key)
