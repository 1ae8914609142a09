"""Typed configuration: frozen dataclasses with defaults in code, filled from YAML mappings.

:func:`build` turns a plain mapping (from YAML or JSON) into a config dataclass, refusing
unknown keys and values of the wrong type with a :class:`ConfigError` that names the full key
path (``nodes[1].config.rate_hz``). Nested dataclasses, ``tuple[...]``, ``list``, ``dict``,
``Literal`` and ``X | None`` fields are supported.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from percept.errors import ConfigError

T = TypeVar("T")


def yaml_error_text(where: str, exc: yaml.YAMLError) -> str:
    """One line ``WHERE:LINE: problem (context at line N)`` for a YAML parse error (1-based lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return f"{where}: invalid YAML: {' '.join(str(exc).split())}"
    text = f"{where}:{mark.line + 1}: {problem}"
    context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and cmark is not None:
        text += f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})"
    elif context:
        text += f" ({context})"
    return text


def parse_yaml(text: str, where: str = "<string>", *, first_document: bool = False) -> Any:
    """Parse YAML ``text`` (safe loader only); a syntax error is a :class:`ConfigError` reading
    ``WHERE:LINE: message``. ``first_document``: the first non-empty document of a ``---`` stream."""
    try:
        if first_document:
            return next((d for d in yaml.safe_load_all(text) if d is not None), None)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_text(where, exc)) from None


def load_yaml(path: str | Path, *, first_document: bool = False) -> Any:
    """Parse a YAML file (safe loader only): the one YAML loader of graph, config and scene files.

    Errors are one line naming the file: ``FILE: cannot read: reason`` or ``FILE:LINE: message``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{p}: cannot read: {reason}") from exc
    return parse_yaml(text, str(p), first_document=first_document)


def require_positive(obj: object, names: Iterable[str], owner: str = "", *,
                     error: type[Exception] = ConfigError, zero: bool = False, noun: str = "number") -> None:
    """Check that the attributes ``names`` of a config ``obj`` are finite numbers > 0 (``>= 0`` with
    ``zero``): the one validation loop of the configs' ``__post_init__``.

    Raises ``error("OWNER.NAME: expected a finite NOUN > 0, got VALUE")`` (no ``OWNER.`` when
    ``owner`` is empty) for the first attribute that is not.
    """
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, int | float) and math.isfinite(value) and (value >= 0 if zero else value > 0):
            continue
        key = f"{owner}.{name}" if owner else name
        raise error(f"{key}: expected a finite {noun} {'>=' if zero else '>'} 0, got {value!r}")


def build(cls: type[T], data: Mapping[str, Any] | None, where: str = "config") -> T:
    """An instance of dataclass ``cls`` from ``data``; missing keys take the code defaults."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from exc


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {args}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)  # type: ignore[arg-type]
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        if origin is tuple and len(args) >= 2 and args[1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(args, value, strict=True))
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
        items = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(kt, k, f"{where}"): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return Path(value)
    return value
