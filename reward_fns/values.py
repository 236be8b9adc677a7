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
>>> value_matches([1, 3], [[1.0, 3.0]], {"type": "array", "items": {"type": "float"}})
False
>>> value_matches([], ["", ["a"]], {"type": "array", "items": {"type": "string"}})
True

:func:`acceptance_test` fixes the gold side once and returns a one-argument test with the same
verdicts, for scoring many responses against one gold call:

>>> test = acceptance_test(["New York", "NYC"], {"type": "string"})
>>> test("new-york"), test("Boston"), test(1)
(True, False, False)
"""

from __future__ import annotations

from collections.abc import Callable

from .schema_types import json_type

__all__ = ["SCHEMA_TYPES", "acceptance_test", "dict_form", "standardize_string", "same_value", "value_matches"]

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

_DROP_CHARS = " ,./-_*^"
_DROP = str.maketrans("", "", _DROP_CHARS)
_DROP_BYTES = _DROP_CHARS.encode()
# one bytes.translate does it all for ASCII text: drop, lowercase (str.lower and bytes.lower agree
# on ASCII), and ' -> "; several times faster than the three str methods
_ASCII_TABLE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ'", b'abcdefghijklmnopqrstuvwxyz"')


def standardize_string(s: str) -> str:
    """BFCL's string normal form: ``"April 1, 2024" -> "april12024"``."""
    if s.isascii():
        return s.encode().translate(_ASCII_TABLE, _DROP_BYTES).decode()
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
    if not isinstance(typ, str):
        return None
    # other spellings ("Dict", "List[str]", "str, optional") read as tl-prepare maps them
    return SCHEMA_TYPES.get(typ) or SCHEMA_TYPES.get(json_type(typ))


def dict_form(acceptable: list, schema: dict | None = None) -> str | None:
    """Where :func:`value_matches` reads acceptable values in BFCL's dict form ``{key: [values]}``.

    ``"dict"``: each dict option; ``"dict_items"``: each dict inside each list option (an array of
    objects); ``None``: nowhere (dicts are compared as plain values). Gold written for the reward
    must be in that form exactly there.

    >>> dict_form([{"a": [1]}], {"type": "Dict"}), dict_form([[{"a": [1]}]], {"type": "array", "items": {"type": "object"}})
    ('dict', 'dict_items')
    >>> dict_form([{"a": 1}], {"type": "any"}) is None
    True
    """
    expected = _schema_type(schema)
    gold_type = _gold_type(acceptable)
    if expected is None:
        expected = gold_type
    if gold_type is not None and gold_type is not expected:
        return None  # BFCL's variable case: plain equality
    if expected is dict:
        return "dict"
    if expected is list and isinstance(schema, dict) and _schema_type(schema.get("items")) is dict:
        return "dict_items"
    return None


def _all_valid(values, acceptable, expected) -> bool:
    """Is every element of ``values`` valid by :func:`_type_ok` (one level, no nesting)?"""
    for value in values:
        valid, _is_variable = _type_ok(value, acceptable, expected, None)
        if not valid:
            return False
    return True


def _type_ok(value, acceptable, expected, nested) -> tuple[bool, bool]:
    """BFCL's type check: ``(valid, is_variable)``. Nested checking goes one level deep."""
    gold_type = _gold_type(acceptable)
    is_variable = gold_type is not None and gold_type is not expected
    if type(value) is expected:
        if nested is None:
            return True, is_variable
        for option in acceptable:
            if type(option) is not list or _all_valid(value, option, nested):
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
        if all(k in option and _contains([_std(o) for o in option[k]], _std(v)) for k, v in value.items()) and all(
            k in value or "" in v for k, v in option.items()
        ):
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
        try:
            value = float(value)
        except OverflowError:  # an int beyond float range equals no float
            return False
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


def acceptance_test(acceptable: list, schema: dict | None = None) -> Callable[[object], bool]:
    """``value_matches(·, acceptable, schema)`` as a one-argument function.

    What depends only on the gold side (types, standardised gold strings, sets to look values up
    in) is worked out once. Scalars and lists, the vast majority, get a specialised test; dicts
    fall back to :func:`value_matches`. The test keeps references to ``acceptable``: do not
    mutate it afterwards.
    """
    expected = _schema_type(schema)
    gold_type = _gold_type(acceptable)
    if expected is None:
        expected = gold_type
    if expected is str and gold_type in (str, None):
        return _string_test(acceptable)
    index = _EqualityIndex(acceptable)
    if expected is bool and gold_type in (bool, None):
        bools = index.bools
        return lambda value: type(value) is bool and value in bools
    numbers = index.numbers
    if expected is int and gold_type in (int, None):
        return lambda value: type(value) is int and value in numbers
    if expected is float and gold_type in (float, int, None):  # gold int: BFCL's variable case,
        return lambda value: _float_in(value, numbers)  # same verdicts as the plain one here
    nested = _schema_type(schema.get("items")) if expected is list and isinstance(schema, dict) else None
    if expected is list and gold_type in (list, None) and nested is not dict:
        return _list_test(acceptable, nested)
    if (
        gold_type is not None
        and gold_type is not expected
        and expected is not None
        and (expected is not list or nested is None)
    ):
        return _variable_test(index, expected, gold_type)
    return lambda value: value_matches(value, acceptable, schema)


_NONE = type(None)
_PLAIN = frozenset((str, int, float, _NONE))  # list elements that compare alike with == and same_value


class _EqualityIndex:
    """``any(same_value(v, o) for o in options)`` by set lookups: same_value keeps bools apart
    and compares numbers with ==, which is what set membership does within each kind. NaN (equal
    to nothing under same_value, but found by identity in a set) is left out of the sets."""

    __slots__ = ("bools", "numbers", "strings", "has_none", "others")

    def __init__(self, options: list):
        self.bools = frozenset(o for o in options if type(o) is bool)
        self.numbers = frozenset(o for o in options if (type(o) is int or type(o) is float) and o == o)
        self.strings = frozenset(o for o in options if type(o) is str)
        self.has_none = any(o is None for o in options)
        self.others = [o for o in options if type(o) not in (bool, int, float, str, _NONE)]

    def __contains__(self, value) -> bool:
        t = type(value)
        if t is str:
            return value in self.strings
        if t is int or t is float:
            return value in self.numbers
        if t is bool:
            return value in self.bools
        if t is _NONE:
            return self.has_none
        return _contains(self.others, value)


def _string_test(acceptable: list) -> Callable[[object], bool]:
    exact = frozenset(o for o in acceptable if type(o) is str)
    text = frozenset(standardize_string(o) for o in exact)
    ascii_ = frozenset(t.encode() for t in text if t.isascii())
    table, drop = _ASCII_TABLE, _DROP_BYTES

    def test(value) -> bool:
        if type(value) is not str:
            return False
        if value in exact:  # the gold string verbatim, the usual right answer
            return True
        if value.isascii():  # an ASCII value standardises to ASCII: only ASCII golds can match
            return value.encode().translate(table, drop) in ascii_
        return value.translate(_DROP).lower().replace("'", '"') in text

    return test


def _float_in(value, numbers: frozenset) -> bool:
    t = type(value)
    if t is int:
        try:
            value = float(value)
        except OverflowError:
            return False
    elif t is not float:
        return False
    return value in numbers


def _list_test(acceptable: list, nested) -> Callable[[object], bool]:
    """Lists, not BFCL's variable case, element type ``nested`` (None: unchecked), no dicts."""
    lists = [o for o in acceptable if type(o) is list]
    # element types allowed per gold option: the schema's, or the option's own (BFCL's rule)
    unchecked = nested is None or len(lists) < len(acceptable)  # a non-list option passes it
    allowed = [frozenset((nested, _gold_type(o))) for o in lists]
    std_options = [[_std(x) for x in o] for o in lists]
    # Options of plain scalars are looked up as tuples; a value holding anything else (a bool,
    # which == would equate with 1, a nested list, ...) goes through same_value.
    plain = all(type(x) in _PLAIN and x == x for o in std_options for x in o)
    tuples = frozenset(tuple(o) for o in std_options) if plain else None
    empty_ok = "" in acceptable

    def test(value) -> bool:
        if type(value) is not list:
            return False
        types = set(map(type, value))
        if not unchecked and not any(types <= a for a in allowed):
            return False
        if not value and empty_ok:
            return True
        std = [standardize_string(x) if type(x) is str else x for x in value]
        if tuples is not None and types <= _PLAIN:
            return tuple(std) in tuples
        return any(same_value(std, o) for o in std_options)

    return test


def _variable_test(index: _EqualityIndex, expected: type, gold_type: type) -> Callable[[object], bool]:
    """BFCL's variable case (gold type differs from the schema's): plain equality, no
    standardisation, for a value of either type."""

    def test(value) -> bool:
        t = type(value)
        if expected is float and t is int:
            try:
                value, t = float(value), float
            except OverflowError:
                return False
        return (t is expected or t is gold_type) and value in index

    return test
