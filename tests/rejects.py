"""Shared check of the tests that feed a loader a bad file: write the text, expect one error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def assert_rejects(load: Callable[[Path], object], path: Path, text: str, error: type[Exception] | tuple,
                   match: str | None = None) -> pytest.ExceptionInfo:
    """Write ``text`` to ``path`` and check that ``load(path)`` raises ``error`` whose message
    matches the regex ``match`` (any message when None); returns the caught exception's info."""
    path.write_text(text)
    with pytest.raises(error, match=match) as info:
        load(path)
    return info
