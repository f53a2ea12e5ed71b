"""Building the engine's frozen records from values it has already checked.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__`` and then runs ``__post_init__``'s checks; for the
thousands of small records a draft makes (charges, line groups) that costs
more than the arithmetic behind them. :func:`builder` gives a constructor
that skips both: a twin class with the same slots, whose plain ``__init__``
stores the values and then turns the new object into the record's own class
(Python allows this between classes of the same layout). Use it only where
every value is one the engine computed and checked itself (a normal
constructor call remains the way in for anything else). The record is of
the record's class, equal to, and as immutable as, one built the normal way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

R = TypeVar("R")


def builder(cls: type[R]) -> Callable[..., R]:
    """A function ``build(*values)`` that makes a ``cls`` (a frozen, slotted dataclass) from its fields' values."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    slots = tuple(getattr(cls, "__slots__", ()))
    if cls.__bases__ != (object,) or sorted(slots) != sorted(names):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass of its own: build it the normal way.")
    namespace: dict[str, Any] = {"cls": cls}
    lines = [f"def __init__(self, {', '.join(names)}):"]
    lines += [f"    self.{name} = {name}" for name in names]
    lines.append("    self.__class__ = cls")
    exec("\n".join(lines), namespace)  # the same technique dataclasses use for __init__
    twin: Callable[..., R] = type(f"{cls.__name__}Builder", (), {"__slots__": slots, "__init__": namespace["__init__"]})
    return twin
