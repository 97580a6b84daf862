"""The type checks behind every entry point's ValueErrors (each call site words its own message,
naming the argument): a bool is not a number here, although Python counts True as 1."""

from __future__ import annotations


def is_whole(value, minimum: int | None = None) -> bool:
    """An int, not a bool, of at least `minimum` (any, when None)."""
    return isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)


def is_number(value) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
