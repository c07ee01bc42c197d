"""Kubernetes' CEL ``quantity`` library (``k8s.io/apiserver/pkg/cel/library/quantity.go``).

The evaluator has no custom types, so a quantity travels through CEL as a one-key map holding
its exact value (``{"kboot.quantity": "3/2"}``): two quantities of the same value are equal
(``quantity('1') == quantity('1000m')``, as upstream's ``Equal``), and the library's functions
read and make such maps — ``quantity``, ``isQuantity``, ``sign``, ``isInteger``,
``asInteger``, ``asApproximateFloat``, ``add``, ``sub``, ``isGreaterThan``, ``isLessThan``,
``compareTo``.  ``string(q)`` does not give the quantity's text back (upstream does).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from kboot.controlplane.api.crd.celfuncs import CelFunctionError
from kboot.controlplane.api.quantities import is_quantity, parse_quantity

_KEY = "kboot.quantity"
_INT64 = 2**63


def _make(value: Fraction) -> dict[str, str]:
    return {_KEY: f"{value.numerator}/{value.denominator}"}


def _value(q: Any, name: str) -> Fraction:
    if isinstance(q, dict) and isinstance(q.get(_KEY), str):
        return Fraction(q[_KEY])
    raise CelFunctionError(f"no such overload: {name}")


def _operand(other: Any, name: str) -> Fraction:
    if isinstance(other, int) and not isinstance(other, bool):
        return Fraction(other)
    return _value(other, name)


def quantity(text: Any) -> dict[str, str]:
    if not isinstance(text, str) or not is_quantity(text):
        raise CelFunctionError(f"quantities must match the regular expression: {text!r}")
    return _make(parse_quantity(text))


def as_integer(q: Any) -> int:
    value = _value(q, "asInteger")
    if value.denominator != 1 or not -_INT64 <= value.numerator < _INT64:
        raise CelFunctionError("cannot convert value to integer")
    return value.numerator


def _compare(a: Any, b: Any) -> int:
    left, right = _value(a, "compareTo"), _value(b, "compareTo")
    return (left > right) - (left < right)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quantity": quantity,
    "isQuantity": lambda text: isinstance(text, str) and is_quantity(text),
    "sign": lambda q: (lambda v: (v > 0) - (v < 0))(_value(q, "sign")),
    "isInteger": lambda q: _value(q, "isInteger").denominator == 1
    and -_INT64 <= _value(q, "isInteger").numerator < _INT64,
    "asInteger": as_integer,
    "asApproximateFloat": lambda q: float(_value(q, "asApproximateFloat")),
    "add": lambda q, other: _make(_value(q, "add") + _operand(other, "add")),
    "sub": lambda q, other: _make(_value(q, "sub") - _operand(other, "sub")),
    "isGreaterThan": lambda a, b: _compare(a, b) > 0,
    "isLessThan": lambda a, b: _compare(a, b) < 0,
    "compareTo": _compare,
}
