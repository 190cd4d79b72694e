"""`Frozen`: the base of the small immutable records the read path builds (events, pointers,
the resolved tuple, store URLs), without `dataclasses`.

Importing dataclasses loads inspect, ast, dis and tokenize with it: about 8 ms of every
`llmreg resolve` process, a sixth of its 50 ms budget, and each decorated class costs
another few hundred microseconds of generated code. These records are written out
instead; the value objects the write path validates (spec.py) stay dataclasses.
"""
from __future__ import annotations

_set = object.__setattr__


class Frozen:
    """Fields are the subclass's public __slots__, in order; equality, hash, repr and pickling
    follow them as a frozen dataclass's do. `Frozen(*values)` sets them in that order (a
    subclass with defaults or keywords passes its arguments on); assigning afterwards raises
    AttributeError. Slots starting with "_" are private caches: not compared, hashed, shown or
    pickled."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _private: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        slots = [name for klass in reversed(cls.__mro__) for name in klass.__dict__.get("__slots__", ())]
        cls._fields = tuple(name for name in slots if not name.startswith("_"))
        cls._private = tuple(name for name in slots if name.startswith("_"))

    def __init__(self, *values: object):
        for name, value in zip(self._fields, values, strict=True):
            _set(self, name, value)

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self._fields}

    def __setstate__(self, state: dict) -> None:
        for name in self._private:
            _set(self, name, None)
        for name, value in state.items():
            _set(self, name, value)
