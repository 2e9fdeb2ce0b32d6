"""UCUM conversions within one dimension (g/L ⇔ g/dL, mmol/L ⇔ µmol/L), exactly.

Units go through the reviewed French aliases first (`G/L` is giga per litre, never
gauss per litre), then ucumvert's grammar and pint registry tell the dimension and
the factor. The factor comes back as a float; it is read as a decimal with twelve
significant digits, so that 0.9999999999999999 is 1 and g/L → g/dL is exactly 0.1.
Converting between mass and substance concentrations is never done here: that
takes the JDV factor of the LOINC pair (see `conversion.py`).

The registry is built once per process, under the lock of `bridge.caching`. A unit
is refused (`ConversionRefused`) only on the grammar's or pint's own verdict about
it; any other failure is a bug and propagates rather than pass for a clinical answer.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bridge.caching import built_once, memoised
from bridge.errors import ConversionRefused
from bridge.mapping.units import read_unit

__all__ = [
    "dimensionality",
    "round_significant",
    "same_dimension",
    "significant_digits",
    "ucum_code",
    "ucum_factor",
]


@built_once
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # a second to build: once per process

    return PintUcumRegistry()


def ucum_code(unit: str) -> str:
    """The UCUM code of a unit as written (aliases applied); refuses a unit that is not UCUM."""
    code = read_unit(unit).code
    if code is None:
        raise ConversionRefused("unit-unknown", f"unit {unit!r} is not a UCUM unit")
    return code


@memoised(4096)
def _quantity(code: str) -> Any:
    from lark import Token
    from lark.exceptions import UnexpectedInput, VisitError
    from pint.errors import PintError
    from ucumvert.parser import InvalidUcumError

    registry = _registry()
    try:
        quantity = registry.from_ucum(code)
    except VisitError as exc:  # lark wraps what pint raised while building the unit
        if isinstance(exc.orig_exc, PintError):
            raise _cannot_convert(code) from exc
        raise
    except (InvalidUcumError, UnexpectedInput) as exc:
        raise _cannot_convert(code) from exc
    if isinstance(quantity, Token):
        # ucumvert gives an annotation standing alone ("{ratio}", "{score}") back as its
        # token; UCUM reads it as the unity 1 (§4.6, "curly braces"), as ucumvert does
        # for an annotation beside a unit ("{cells}/uL" is 1/uL)
        return registry.Quantity(1)
    try:
        scale = abs(float((1 * quantity).to_base_units().magnitude))
    except (OverflowError, ArithmeticError) as exc:
        raise _beyond_scales(code) from exc
    if not _SMALLEST <= scale <= _LARGEST:
        raise _beyond_scales(code)
    return quantity


# Laboratory units lie far inside these scales (fL is 1e-18 m³, 10*12/L 1e15 per m³);
# beyond them, factors between two units no longer fit a decimal's 28 digits, and
# 10*400.g/L would overflow pint's floats (a value converted to 0).
_SMALLEST, _LARGEST = 1e-24, 1e24


def _beyond_scales(code: str) -> ConversionRefused:
    return ConversionRefused(
        "unit-unknown", f"unit {code!r} is beyond the scales of laboratory units: not converted"
    )


# UCUM's arbitrary units (§4.3, class "arbitrary"): defined by a reference preparation
# each, so that none converts to another, nor to a unit of the same shape without it
_ARBITRARY = re.compile(
    r"\[(?:IU|arb'U|USP'U|GPL'U|MPL'U|APL'U|beth'U|anti'Xa'U|todd'U|dye'U|smgy'U|bdsk'U|"
    r"ka'U|knk'U|mclg'U|tb'U|CCID_50|TCID_50|EID_50|PFU|FFU|CFU|IR|BAU|AU|Amb'a'1'U|PNU|Lf|"
    r"D'ag'U|FEU|ELU|EU)\]"
)


def _arbitrary(code: str) -> list[str]:
    return sorted(_ARBITRARY.findall(code))


def _cannot_convert(code: str) -> ConversionRefused:
    return ConversionRefused("unit-unknown", f"unit {code!r} cannot be converted")


def dimensionality(unit: str) -> str:
    """What a unit measures, as pint writes it: "[substance] / [length] ** 3" for mmol/L."""
    return str(_quantity(ucum_code(unit)).dimensionality)


def same_dimension(a: str, b: str) -> bool:
    """Whether UCUM converts between the two (an arbitrary unit only to itself scaled)."""
    code_a, code_b = ucum_code(a), ucum_code(b)
    if _arbitrary(code_a) != _arbitrary(code_b):
        return False
    return bool(_quantity(code_a).dimensionality == _quantity(code_b).dimensionality)


def ucum_factor(source: str, target: str) -> Decimal:
    """The factor f such that a value in `source` × f is the value in `target`.

    >>> ucum_factor("g/L", "g/dL"), ucum_factor("G/L", "10*6/L"), ucum_factor("ug/L", "ng/mL")
    (Decimal('0.1'), Decimal('1000'), Decimal('1'))

    Raises:
        ConversionRefused: unknown unit, or units of different dimensions.
    """
    return _factor((source, target))


@memoised(4096)
def _factor(units: tuple[str, str]) -> Decimal:
    source, target = units
    a, b = _quantity(ucum_code(source)), _quantity(ucum_code(target))
    if _arbitrary(ucum_code(source)) != _arbitrary(ucum_code(target)):
        raise ConversionRefused(
            "dimension-differs",
            f"{source} and {target}: an arbitrary unit ([IU], [arb'U]…) converts only to "
            "itself: no UCUM conversion",
        )
    if a.dimensionality != b.dimensionality:
        raise ConversionRefused(
            "dimension-differs",
            f"{source} and {target} measure different things ({a.dimensionality} vs "
            f"{b.dimensionality}): no UCUM conversion",
        )
    magnitude = (1 * a).to(b).magnitude
    factor = Decimal(f"{magnitude:.12g}").normalize()
    return factor.quantize(Decimal(1)) if factor.as_tuple().exponent > 0 else factor


def round_significant(value: Decimal, digits: int) -> Decimal:
    """`value` rounded half-up to `digits` significant digits, never in exponent form.

    >>> round_significant(Decimal("5.27345"), 3), round_significant(Decimal("3.49713"), 3)
    (Decimal('5.27'), Decimal('3.50'))
    >>> round_significant(Decimal("450.0"), 3), round_significant(Decimal("123456"), 3)
    (Decimal('450'), Decimal('123000'))
    """
    if value.is_zero():
        return Decimal(0)
    exponent = value.adjusted() - digits + 1
    rounded = value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
    return rounded.quantize(Decimal(1)) if exponent > 0 else rounded


def significant_digits(value: Decimal) -> int:
    """Digits a written decimal carries: "0.95" has 2, "120" has 3, "5.30" has 3."""
    digits = value.as_tuple().digits
    stripped = list(digits)
    while len(stripped) > 1 and stripped[0] == 0:
        stripped.pop(0)
    return len(stripped)
