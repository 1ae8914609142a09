"""Wire declarations shared by message classes and the codec: dtypes, scalar kinds, schema registry.

A leaf of ``percept``: :mod:`percept.message` (the ``Message`` base class, which registers every
subclass here) and :mod:`percept.codec` (which encodes and decodes any registered class from its
declarations) both build on it without importing each other in a cycle.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from percept.message import Message

#: Wire names of the dtypes a message may carry, all little-endian, fixed size, no objects.
WIRE_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8", "b1")
}

INT64_MAX = 2**63 - 1


class Scalar(enum.Enum):
    """Kinds of non-array message fields, as they travel in the msgpack header."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    STR_TUPLE = "str_tuple"
    INT_TUPLE = "int_tuple"
    #: flat mapping ``str -> int | float | str | bool``
    FLAT_MAP = "flat_map"
    #: mapping ``str -> int``
    COUNT_MAP = "count_map"


def dtype_wire_name(dtype: np.dtype) -> str:
    """Short wire name of ``dtype`` (``"f4"``, ``"u1"``, ...), or its ``str`` when not allowed."""
    if dtype.kind == "b" and dtype.itemsize == 1:
        return "b1"
    if dtype.kind in "uif" and dtype.byteorder in ("<", "=", "|") and dtype.fields is None:
        return f"{dtype.kind}{dtype.itemsize}"
    return dtype.str


_REGISTRY: dict[str, type[Message]] = {}


def register_message(cls: type[Message]) -> None:
    """Register ``cls`` under its ``SCHEMA``; a second class with the same schema is a TypeError.

    Re-defining the same class (same qualified name, e.g. a reloaded module) replaces the entry.
    """
    if cls.SCHEMA in _REGISTRY and _REGISTRY[cls.SCHEMA].__qualname__ != cls.__qualname__:
        raise TypeError(f"schema {cls.SCHEMA!r} registered twice")
    _REGISTRY[cls.SCHEMA] = cls


def registered_schemas() -> Mapping[str, type[Message]]:
    """All message classes by schema name (read-only view)."""
    return dict(_REGISTRY)


def message_class(schema: str) -> type[Message] | None:
    """The class registered for ``schema``, or ``None``."""
    return _REGISTRY.get(schema)
