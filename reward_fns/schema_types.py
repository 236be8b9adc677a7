"""Type names in tool schemas: the spellings datasets use, mapped to JSON Schema.

Tool datasets write parameter types in JSON Schema (``"string"``), in BFCL's Python names
(``"dict"``, ``"float"``, ``"tuple"``, ``"any"``), and in the informal Python style of docstrings and
type hints (``"Dict"``, ``"List[str]"``, ``"str, optional"``, ``"Optional[int]"``). The reward and
the data pipeline must read one schema the same way (a ``"Dict"`` parameter is an object whose gold
values are in BFCL form ``{key: [values]}``), so both map types through :func:`canonical_schema`.

A spelling is mapped when its meaning is clear (the table in the docs, :data:`TYPE_SPELLINGS` and
the generic forms below); otherwise the node keeps its type and a :class:`TypeProblem` says why
(``tl-prepare`` refuses such tools, counted; the reward treats the node as untyped, so the gold
value's own type decides, as for a schema without a type).

Generic forms (case-insensitive, ``typing.`` prefix allowed):

- ``List[X]`` / ``Sequence[X]`` / ``Set[X]`` / ``Iterable[X]`` -> array with ``items`` X;
  ``Tuple[X, ...]`` and ``Tuple[X, X]`` -> array of X; ``Tuple[X, Y]`` -> array;
- ``Dict[K, V]`` / ``Mapping[K, V]`` -> object;
- ``Optional[X]``, ``Union[X, None]``, ``X | None``, ``X or None``, ``X, optional``,
  ``X (optional)`` -> X (``required`` is left as the schema says);
- ``Union[int, float]`` -> number; other unions of different types are refused.

>>> canonical_schema({"type": "object", "properties": {"d": {"type": "Dict"}, "l": {"type": "List[str]"}}}).schema
{'type': 'object', 'properties': {'d': {'type': 'object'}, 'l': {'type': 'array', 'items': {'type': 'string'}}}}
>>> canonical_schema({"type": "dict", "properties": {"n": {"type": "int, optional"}, "f": {"type": "DataFrame"}}})
CanonicalSchema(schema={'type': 'object', 'properties': {'n': {'type': 'integer'}, 'f': {'type': 'DataFrame'}}}, problems=[TypeProblem(path='properties.f', type='DataFrame', why='unknown type name')])
>>> json_type("Optional[float]"), json_type("any"), json_type("Union[str, int]")
('number', 'any', None)
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "JSON_TYPES",
    "TYPE_SPELLINGS",
    "CanonicalSchema",
    "TypeProblem",
    "canonical_schema",
    "json_type",
    "type_fragment",
]

JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")

#: Plain type names (lower-cased) -> JSON Schema type. ``any`` stays ``any``: BFCL's name for a
#: parameter checked as a string whose gold value's own type is also accepted.
TYPE_SPELLINGS = {
    **{t: t for t in JSON_TYPES},
    "str": "string",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "set": "array",
    "frozenset": "array",
    "sequence": "array",
    "iterable": "array",
    "dict": "object",
    "dictionary": "object",
    "mapping": "object",
    "none": "null",
    "nonetype": "null",
    "any": "any",
}
_ARRAYS = frozenset({"list", "set", "frozenset", "sequence", "iterable", "array"})
_OBJECTS = frozenset({"dict", "dictionary", "mapping", "object"})
_MAX_DEPTH = 8  # nesting of generic brackets read; deeper spellings are refused
# Schema keywords whose value is one sub-schema / a list / a dict of them (walked for types).
_ONE = ("items", "additionalProperties", "not", "contains")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")


class TypeProblem(NamedTuple):
    path: str  # where in the parameters schema, e.g. "properties.x.items"
    type: object  # the type value found there
    why: str


class CanonicalSchema(NamedTuple):
    schema: object  # the schema with every type that could be mapped mapped
    problems: list  # a TypeProblem per type that could not


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets."""
    parts, depth, start = [], 0, 0
    i, n, k = 0, len(text), len(sep)
    while i < n:
        c = text[i]
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + k
            i += k
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _strip_optional(text: str) -> str:
    low = text.lower()
    for suffix in ("(optional)", "optional"):
        if low.endswith(suffix) and len(low) > len(suffix):
            return text[: -len(suffix)].rstrip().rstrip(",;").rstrip()
    return text


def _union(members: list, depth: int):
    frags = [f for f in (_fragment(m, depth + 1) for m in members)]
    if any(isinstance(f, str) for f in frags):
        return next(f for f in frags if isinstance(f, str))
    kept = [f for f in frags if f.get("type") != "null"] or frags
    types = {f.get("type") for f in kept}
    if len(kept) == 1 or all(f == kept[0] for f in kept):
        return kept[0]
    if types <= {"integer", "number"}:
        return {"type": "number"}
    return f"a union of different types ({', '.join(sorted(map(str, types)))})"


def _fragment(text: str, depth: int = 0):
    """``{"type": ..., ["items": ...]}`` for one spelling, or a string saying why not."""
    if depth > _MAX_DEPTH:
        return "nested too deeply"
    text = _strip_optional(text.strip())
    if not text:
        return "empty type name"
    for sep in ("|", " or "):
        members = _split_top(text, sep)
        if len(members) > 1:
            return _union(members, depth)
    bracket = text.find("[")
    if bracket < 0:
        name = text.lower().removeprefix("typing.")
        mapped = TYPE_SPELLINGS.get(name)
        return {"type": mapped} if mapped else "unknown type name"
    if not text.endswith("]"):
        return "unknown type name"
    name = text[:bracket].strip().lower().removeprefix("typing.")
    args = _split_top(text[bracket + 1 : -1], ",")
    if name == "optional" and len(args) == 1:
        return _fragment(args[0], depth + 1)
    if name == "union":
        return _union(args, depth)
    if name in _OBJECTS:
        return {"type": "object"}
    if name in _ARRAYS or name == "tuple":
        if name == "tuple" and len(args) == 2 and args[1] == "...":
            args = args[:1]
        items = [_fragment(a, depth + 1) for a in args if a]
        for item in items:
            if isinstance(item, str):
                return item
        if items and (name != "tuple" or all(i == items[0] for i in items)):
            return {"type": "array", "items": items[0]}
        return {"type": "array"}
    return "unknown type name"


@lru_cache(maxsize=1024)
def _cached_fragment(text: str):
    return _fragment(text)


def type_fragment(value):
    """The JSON Schema for a ``type`` value, or a string saying why it cannot be mapped.

    >>> type_fragment("List[Dict[str, Any]]")
    {'type': 'array', 'items': {'type': 'object'}}
    >>> type_fragment(["string", "None"])
    {'type': ['string', 'null']}
    >>> type_fragment("Literal['a', 'b']")
    'unknown type name'
    """
    if isinstance(value, str):
        frag = _cached_fragment(value) if len(value) <= 200 else "type name longer than 200 characters"
        return copy.deepcopy(frag) if isinstance(frag, dict) else frag  # the cached one stays unshared
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        out = []
        for v in value:
            frag = type_fragment(v)
            if isinstance(frag, str):
                return frag
            out.append(frag["type"])
        return {"type": out}
    return f"a type must be a name or a list of names, got {type(value).__name__}"


def json_type(value) -> str | None:
    """The single JSON Schema type a ``type`` value means (first non-null of a list), else None."""
    frag = type_fragment(value)
    if isinstance(frag, str):
        return None
    typ = frag["type"]
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), None)
    return typ


def canonical_schema(schema, path: str = "") -> CanonicalSchema:
    """``(schema with every type mapped, [TypeProblem, ...])``; the input is not changed.

    Sub-schemas are followed through ``properties``, ``items``, ``additionalProperties``,
    ``anyOf`` / ``oneOf`` / ``allOf`` and ``prefixItems``; values such as ``default`` or ``enum``
    are left alone. A node whose type cannot be mapped keeps it, and the problem is listed.
    """
    problems: list = []
    return CanonicalSchema(_walk(schema, path, problems, 0), problems)


def _walk(node, path: str, problems: list, depth: int):
    if not isinstance(node, dict) or depth > 64:
        return node
    out = dict(node)
    if "type" in node:
        frag = type_fragment(node["type"])
        if isinstance(frag, str):
            problems.append(TypeProblem(path or "<root>", node["type"], frag))
        else:
            out["type"] = frag["type"]
            if "items" in frag and "items" not in node:
                out["items"] = frag["items"]
    where = f"{path}." if path else ""
    props = node.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: _walk(v, f"{where}properties.{k}", problems, depth + 1) for k, v in props.items()}
    for key in _ONE:
        if isinstance(node.get(key), dict):
            out[key] = _walk(node[key], f"{where}{key}", problems, depth + 1)
        elif key == "items" and isinstance(node.get(key), list):
            out[key] = [_walk(v, f"{where}items[{i}]", problems, depth + 1) for i, v in enumerate(node[key])]
    for key in _MANY:
        if isinstance(node.get(key), list):
            out[key] = [_walk(v, f"{where}{key}[{i}]", problems, depth + 1) for i, v in enumerate(node[key])]
    return out
