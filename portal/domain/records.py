"""Building the engine's frozen records from values it has already checked.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__`` and then runs ``__post_init__``'s checks; for the
thousands of small records a draft makes (ledger entries, line groups) that
costs more than the arithmetic behind them. :func:`builder` gives a
function that sets a record's slots directly, in field order, without
``__init__`` or ``__post_init__``: use it only where every value is one the
engine computed and checked itself (a normal constructor call remains the
way in for anything else). The record is equal to, and as immutable as, one
built the normal way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

R = TypeVar("R")


def builder(cls: type[R]) -> Callable[..., R]:
    """A function ``build(*values)`` that makes a ``cls`` (a frozen, slotted dataclass) from its fields' values."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"set_{name}": getattr(cls, name).__set__ for name in names})
    lines = [f"def build({', '.join(names)}):", "    record = new(cls)"]
    lines += [f"    set_{name}(record, {name})" for name in names]
    lines.append("    return record")
    exec("\n".join(lines), namespace)  # the same technique dataclasses use for __init__
    built: Callable[..., R] = namespace["build"]
    return built
