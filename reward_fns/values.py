"""Is a predicted argument value acceptable? BFCL's AST-checker rules, written afresh.

A gold parameter carries a list of acceptable values (BFCL "possible answer" form). A predicted
value is accepted when it has the schema's type and equals one acceptable value, where:

* strings are compared after :func:`standardize_string` (drop spaces and ``,./-_*^``, lowercase,
  ``'`` -> ``"``), so "April 1, 2024" matches "april 1 2024";
* an int is accepted where the schema wants a float; a bool is never an int (nor the reverse);
* lists are compared in order, their string elements standardised (an empty list is accepted
  where the parameter may be omitted, like ``""`` for a string); dicts key by key, each dict
  value against its own acceptable list (a key whose list holds ``""`` may be left out);
* list elements are type-checked against the schema's ``items`` type, without the int-for-float
  allowance (BFCL applies that only at the top level): ``[1, 3]`` is not a list of floats;
* a value whose gold type differs from the schema type (BFCL's "variable" case, e.g. an integer
  parameter whose gold answer is the string ``"x"``) is accepted when it has the gold type and
  equals a gold value.

>>> value_matches("New York, NY", ["new york ny"], {"type": "string"})
True
>>> value_matches(3, [3.0], {"type": "float"}), value_matches(True, [1], {"type": "integer"})
(True, False)
>>> value_matches({"a": "X"}, [{"a": ["x"], "b": [""]}], {"type": "dict"})
True
"""

from __future__ import annotations

__all__ = ["SCHEMA_TYPES", "standardize_string", "same_value", "value_matches"]

# JSON-Schema and BFCL type names -> the Python type a decoded value must have. "any" is checked
# as a string, as BFCL does; the gold-type ("variable") rule below lets other types through.
SCHEMA_TYPES = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": str,
}

_DROP = str.maketrans("", "", " ,./-_*^")


def standardize_string(s: str) -> str:
    """BFCL's string normal form: ``"April 1, 2024" -> "april12024"``."""
    return s.translate(_DROP).lower().replace("'", '"')


def same_value(a, b) -> bool:
    """Equality that keeps bool apart from numbers, but lets 1 == 1.0 (recursively)."""
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta in (int, float) and tb in (int, float):
        return a == b
    if ta is not tb:
        return False
    if ta is list:
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if ta is dict:
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b


def _contains(options, value) -> bool:
    return any(same_value(value, o) for o in options)


def _std(v):
    return standardize_string(v) if type(v) is str else v


def _gold_type(acceptable):
    for v in acceptable:
        if v != "":
            return type(v)
    return None


def _schema_type(schema):
    typ = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(typ, list):  # JSON Schema allows ["string", "null"]
        typ = next((t for t in typ if t != "null"), None)
    return SCHEMA_TYPES.get(typ) if isinstance(typ, str) else None


def _type_ok(value, acceptable, expected, nested) -> tuple[bool, bool]:
    """BFCL's type check: ``(valid, is_variable)``. Nested checking goes one level deep."""
    gold_type = _gold_type(acceptable)
    is_variable = gold_type is not None and gold_type is not expected
    if type(value) is expected:
        if nested is None:
            return True, is_variable
        for option in acceptable:
            if type(option) is not list or all(_type_ok(v, option, nested, None)[0] for v in value):
                return True, is_variable
        # Element types fit no option: invalid. (BFCL goes on to its gold-type rule here, but its
        # result is already marked invalid, so e.g. [1, 3] is rejected where floats are wanted.)
        return False, is_variable
    if gold_type is not None and type(value) is gold_type:
        return True, True
    return False, is_variable


def _dict_matches(value: dict, options) -> bool:
    for option in options:
        if option == "" or not isinstance(option, dict):
            continue
        if all(
            k in option and _contains([_std(o) for o in option[k]], _std(v)) for k, v in value.items()
        ) and all(k in value or "" in v for k, v in option.items()):
            return True
    return False


def _list_of_dicts_matches(value: list, options) -> bool:
    for option in options:
        if option == "" and not value:  # an omittable list may also be given empty (as in BFCL)
            return True
        if isinstance(option, list) and len(option) == len(value):
            if all(isinstance(v, dict) and _dict_matches(v, [o]) for v, o in zip(value, option)):
                return True
    return False


def value_matches(value, acceptable: list, schema: dict | None = None) -> bool:
    """True if ``value`` is acceptable: see the module docstring for the rules.

    ``schema`` is the parameter's JSON schema (``{"type": ..., "items": {...}}``); without a
    type, the type of the gold values is expected.
    """
    expected = _schema_type(schema)
    if expected is None:
        expected = _gold_type(acceptable) or type(value)
    nested = None
    if expected is list and isinstance(schema, dict):
        nested = _schema_type(schema.get("items"))
    if expected is float and type(value) is int:
        value = float(value)
    valid, is_variable = _type_ok(value, acceptable, expected, nested)
    if not valid:
        return False
    if not is_variable:
        if expected is dict:
            return _dict_matches(value, acceptable)
        if expected is list and nested is dict:
            return _list_of_dicts_matches(value, acceptable)
        if expected is str:
            return standardize_string(value) in {standardize_string(o) for o in acceptable if type(o) is str}
        if expected is list:
            if not value and "" in acceptable:  # an omittable list may also be given empty (as in BFCL)
                return True
            std = [_std(v) for v in value]
            return any(type(o) is list and same_value(std, [_std(x) for x in o]) for o in acceptable)
    return _contains(acceptable, value)
