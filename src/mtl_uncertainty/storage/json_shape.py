"""A declarative description of a JSON document's shape, and the check that a document has it.

A shape is a function from (where, value) to the problems found, built from the pieces below:
`STR`, `INT`, `NUM`, `BOOL`, `optional(shape)`, `list_of(shape)`, `map_of(shape)`,
`obj({field: shape}, rest=shape, required=fields)` and `one_of(shapes)`. Fields an object's shape
does not name are checked by `rest` (anything, by default); a field it names may be absent unless
it is `required`. Every problem names its field, e.g. "trajectory.values is a string, not an object".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Shape = Callable[[str, Any], list[str]]

_JSON_NAMES = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_JSON_NAMES.update({list: "a list", dict: "an object"})


def json_type(value: Any) -> str:
    """The JSON name of `value`'s type, as a problem names it."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _leaf(test: Callable[[Any], bool], wanted: str) -> Shape:
    def check(where: str, value: Any) -> list[str]:
        return [] if test(value) else [f"{where} is {json_type(value)}, not {wanted}"]

    return check


STR = _leaf(lambda v: isinstance(v, str), "a string")
INT = _leaf(_is_int, "an integer")
NUM = _leaf(_is_num, "a number")
BOOL = _leaf(lambda v: isinstance(v, bool), "a boolean")
SCALAR = _leaf(lambda v: v is None or isinstance(v, (str, bool, int, float)), "a single value")


def anything(where: str, value: Any) -> list[str]:
    return []


def optional(shape: Shape) -> Shape:
    """`shape`, or null."""
    return lambda where, value: [] if value is None else shape(where, value)


def one_of(*shapes: Shape) -> Shape:
    """Any one of `shapes` (the problems of the first, where none fits)."""

    def check(where: str, value: Any) -> list[str]:
        found = [shape(where, value) for shape in shapes]
        return [] if any(not f for f in found) else found[0]

    return check


def list_of(item: Shape) -> Shape:
    def check(where: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            return [f"{where} is {json_type(value)}, not a list"]
        return [p for i, v in enumerate(value) for p in item(f"{where}[{i}]", v)]

    return check


def obj(fields: Mapping[str, Shape], rest: Shape = anything, required: Sequence[str] = ()) -> Shape:
    """An object whose named fields have their shapes, its other fields the shape `rest`, and `required` there."""

    def check(where: str, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where} is {json_type(value)}, not an object"]
        missing = [f"{where} lacks {k}" for k in required if k not in value]
        return missing + [p for k, v in value.items() for p in fields.get(k, rest)(f"{where}.{k}" if where else k, v)]

    return check


def map_of(item: Shape) -> Shape:
    """An object of any fields, each of the shape `item`."""
    return obj({}, rest=item)


def shape_problems(shape: Shape, value: Any, limit: int = 5) -> list[str]:
    """What in `value` does not have `shape` (the first `limit` problems, and how many more)."""
    found = shape("", value) if shape is not None else []
    return found[:limit] + ([f"and {len(found) - limit} more"] if len(found) > limit else [])
