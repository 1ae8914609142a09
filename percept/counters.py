"""A component's counters: the one record type behind every ``stats`` / ``timings`` attribute.

A record declares its counters by name in the class statement, grouped by kind::

    class TrackerStats(Counters, ints="frames dropped_invalid out_of_order"):
        \"\"\"Counters of a tracker.\"\"\"

``ints`` start at 0, ``floats`` at 0.0 (seconds, milliseconds: the name says the unit) and ``maps``
at ``{}`` (a count per key: ``{topic: n}``, ``{batch_size: n}``). Each is a plain attribute
(``stats.frames += 1``). Every record gets ``as_dict()`` (a snapshot), ``reset()`` (all back to zero),
``merge(other)`` (adds another record of the same type, maps key by key), keyword construction
(``TrackerStats(frames=3)``), equality and a readable ``repr``. A subclass may add properties
(derived values) and more counters (declared the same way; a name may be declared once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

#: What one counter holds.
CounterValue = int | float | dict[Any, int]


class Counters:
    """Base of the counter records (see the module docstring). Not thread-safe beyond what a plain
    attribute is: give each counter one writer."""

    INTS: ClassVar[tuple[str, ...]] = ()
    FLOATS: ClassVar[tuple[str, ...]] = ()
    MAPS: ClassVar[tuple[str, ...]] = ()
    #: every counter name, in declaration order (ints, floats, maps of each class in turn)
    NAMES: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, *, ints: str = "", floats: str = "", maps: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.INTS = cls.INTS + tuple(ints.split())
        cls.FLOATS = cls.FLOATS + tuple(floats.split())
        cls.MAPS = cls.MAPS + tuple(maps.split())
        names = cls.INTS + cls.FLOATS + cls.MAPS
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise TypeError(f"{cls.__name__}: counters declared twice: {', '.join(repeated)}")
        cls.NAMES = names

    def __init__(self, **values: CounterValue) -> None:
        self.reset()
        for name, value in values.items():
            if name not in self.NAMES:
                raise TypeError(f"{type(self).__name__}: no counter {name!r} (has {', '.join(self.NAMES)})")
            setattr(self, name, dict(value) if name in self.MAPS else value)

    if TYPE_CHECKING:  # the counters are set per instance from the declaration
        def __getattr__(self, name: str) -> Any: ...

    def reset(self) -> None:
        """Every counter back to 0 / 0.0 / {}."""
        for name in self.INTS:
            setattr(self, name, 0)
        for name in self.FLOATS:
            setattr(self, name, 0.0)
        for name in self.MAPS:
            setattr(self, name, {})

    def as_dict(self) -> dict[str, CounterValue]:
        """A snapshot: ``{name: value}`` in declaration order (maps copied)."""
        out: dict[str, CounterValue] = {}
        for name in self.NAMES:
            value = getattr(self, name)
            out[name] = dict(value) if name in self.MAPS else value
        return out

    def merge(self, other: Self) -> Self:
        """Add the counters of ``other`` (same type) to these, maps key by key; returns ``self``."""
        if type(other) is not type(self):
            raise TypeError(f"{type(self).__name__}.merge: expected a {type(self).__name__}, "
                            f"got {type(other).__name__}")
        for name in self.INTS + self.FLOATS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in self.MAPS:
            mine = getattr(self, name)
            for key, n in getattr(other, name).items():
                mine[key] = mine.get(key, 0) + n
        return self

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.as_dict() == other.as_dict()  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.NAMES)})"
