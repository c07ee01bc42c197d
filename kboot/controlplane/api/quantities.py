"""Resource quantities (``100m``, ``1.5Gi``, ``2e3``, ``1``): parsing, comparison and rendering.

Quantities are exact: :func:`parse_quantity` returns a :class:`~fractions.Fraction` of base
units (cores for cpu, bytes for memory), so ``500m`` < ``1`` and ``1Gi`` == ``1073741824``.
The scheduler and the kubelet compare requests with capacity through it; validation checks
quantity syntax with it.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
# Quantities are exact fractions, so an exponent costs work in proportion to its value; no
# resource needs more than this (an exbibyte is about 1e18).
MAX_EXPONENT = 100
QUANTITY_ERROR = ("quantities must match the regular expression "
                  f"'{QUANTITY_RE.pattern}'")


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value of a quantity; ``ValueError`` for malformed text."""
    if isinstance(value, bool):
        raise ValueError(QUANTITY_ERROR)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(QUANTITY_ERROR)
        return Fraction(value)
    text = value.strip()
    m = QUANTITY_RE.match(text)
    if m is None:
        raise ValueError(QUANTITY_ERROR)
    number, suffix = m.groups()
    if number.count(".") > 1 or number.strip("+-") in ("", "."):
        raise ValueError(QUANTITY_ERROR)
    if suffix in _SUFFIXES:
        scale = _SUFFIXES[suffix]
    elif re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        exponent = int(suffix[1:])
        if abs(exponent) > MAX_EXPONENT:  # 10**99999999 would take minutes to compute
            raise ValueError(f"{QUANTITY_ERROR}; the exponent may be at most {MAX_EXPONENT}")
        scale = Fraction(10) ** exponent
    else:
        raise ValueError(QUANTITY_ERROR)
    return Fraction(number) * scale


def is_quantity(value: object) -> bool:
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def format_quantity(value: Fraction, *, binary: bool = False) -> str:
    """A compact canonical form: ``1500m`` → ``1500m``; ``2`` → ``2``; binary ``1Gi``."""
    if value.denominator == 1:
        whole = value.numerator
        if binary:
            for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
                base = _SUFFIXES[suffix].numerator
                if whole and whole % base == 0:
                    return f"{whole // base}{suffix}"
        return str(whole)
    for suffix in ("m", "u", "n"):
        scaled = value / _SUFFIXES[suffix]
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    return str(float(value))
