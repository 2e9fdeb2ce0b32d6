"""HL7 v3 data types → FHIR R4 data types (CodeableConcept, Identifier, dateTime, Quantity…)."""

from __future__ import annotations

import calendar
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bridge.caching import memoised
from bridge.cda.datatypes import CD, II, IVL_TS, Address, PersonName, Telecom
from bridge.mapping.codes import (
    ADDRESS_USE,
    LOINC,
    TELECOM_USE,
    UCUM,
    URI_RFC3986,
    identifier_type,
    loinc_check_digit_ok,
    system_for_name,
    system_uri,
)
from bridge.mapping.units import read_unit

if TYPE_CHECKING:
    from bridge.mapping.context import MappingContext

__all__ = [
    "address",
    "codeable_concept",
    "coding",
    "date_time",
    "decimal",
    "effective",
    "human_names",
    "identifier",
    "instant",
    "period",
    "quantity",
    "telecom",
    "telecoms",
]

_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


# Codes --------------------------------------------------------------------


def coding(cd: CD) -> dict[str, Any] | None:
    """One Coding: system from the OID table (or a well-known @codeSystemName), code, display."""
    if not cd.code:
        return None
    out: dict[str, Any] = {}
    if cd.code_system:
        out["system"] = system_uri(cd.code_system)
    else:
        system = system_for_name(cd.code_system_name)
        if system:
            out["system"] = system
    out["code"] = cd.code
    if cd.display_name:
        out["display"] = cd.display_name
    return out


def codeable_concept(
    cd: CD | None,
    ctx: MappingContext,
    *,
    loinc_first: bool = False,
    require_display: bool = False,
) -> dict[str, Any] | None:
    """A CodeableConcept from a code and all its translations; originalText becomes `text`.

    With `loinc_first`, LOINC codings come first (brief §3: never drop LOINC).
    """
    if cd is None:
        return None
    codings = []
    for c in (cd, *cd.translations):
        found = coding(c)
        if found is None:
            continue
        if not c.code_system:
            how = (
                f"read as {found['system']} from @codeSystemName"
                if "system" in found
                else "kept without a system: it is never compared"
            )
            ctx.issues.add(
                "code-system-missing",
                c.node,
                f"code {c.code} has no @codeSystem; {how}",
                input=c.code,
            )
        if "display" not in found and ctx.displays:
            display = ctx.displays.get((found.get("system", ""), found["code"]))
            if display:
                found["display"] = display  # French display from a synced value set
        if found.get("system") == LOINC and not loinc_check_digit_ok(c.code or ""):
            ctx.issues.add(
                "loinc-check-digit",
                c.node,
                f"LOINC code {c.code} fails the LOINC check digit",
                input=c.code,
            )
        codings.append(found)
    if loinc_first and len(codings) > 1:
        codings.sort(key=lambda c: c.get("system") != LOINC)
    text = cd.original_text
    # (a result code's reference that found its target, empty, is no missing reference)
    if cd.original_text_ref and text is None and cd.original_text_place is None:
        ctx.issues.add(
            "narrative-reference-missing",
            cd.node,
            f"originalText reference {cd.original_text_ref} points to no narrative "
            "element; ignored",
            input=cd.original_text_ref,
            severity="information",
        )
    if require_display and codings and "display" not in codings[0]:
        ctx.issues.add(
            "display-missing",
            cd.node,
            f"code {codings[0]['code']} has no displayName",
            input=codings[0]["code"],
        )
    if not codings and not text:
        return None
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = codings
    if text:
        out["text"] = text
    return out


# Identifiers --------------------------------------------------------------


def identifier(ii: II | None) -> dict[str, Any] | None:
    """II → Identifier: root + extension as system + value; a root alone as a URI value."""
    if ii is None or ii.null_flavor or not ii.root:
        return None
    out: dict[str, Any]
    if ii.extension:
        out = {"system": _root_uri(ii.root), "value": ii.extension}
        kind = identifier_type(ii.root)
        if kind is not None:
            out = {
                "use": kind.use,
                "type": {
                    "coding": [{"system": kind.system, "code": kind.code, "display": kind.display}]
                },
                **out,
            }
    else:
        out = {"system": URI_RFC3986, "value": _root_uri(ii.root)}
    if ii.assigning_authority:
        out["assigner"] = {"display": ii.assigning_authority}
    return out


@memoised(4096)  # a document names the same few identifier roots again and again
def _root_uri(root: str) -> str:
    if _UUID.match(root):
        return f"urn:uuid:{root.lower()}"
    return system_uri(root)


# Time ---------------------------------------------------------------------

_TS = re.compile(
    r"^(?P<y>[0-9]{4})(?P<mo>[0-9]{2})?(?P<d>[0-9]{2})?(?P<h>[0-9]{2})?(?P<mi>[0-9]{2})?"
    r"(?P<s>[0-9]{2})?(?P<f>\.[0-9]{1,9})?(?P<tz>[+-][0-9]{4}|Z)?$"
)


def date_time(value: str | None, ctx: MappingContext, node: Any) -> str | None:
    """`YYYYMMDDhhmmss±HHMM` → FHIR dateTime, keeping the precision written (brief §3).

    FHIR has no minute precision: `hhmm` gets `:00` seconds. A time without an
    offset cannot be a FHIR dateTime and is reduced to its date, with a warning.
    """
    return _convert_ts(value, ctx, node, need_instant=False)


def instant(value: str | None, ctx: MappingContext, node: Any) -> str | None:
    """A FHIR instant (seconds and offset), or None when the timestamp is less precise."""
    return _convert_ts(value, ctx, node, need_instant=True)


def _convert_ts(
    value: str | None, ctx: MappingContext, node: Any, *, need_instant: bool
) -> str | None:
    if not value:
        return None
    parts = _ts_parts(value.strip())
    if parts is None:
        ctx.issues.add(
            "invalid-date",
            node,
            f"{value!r} is not a valid HL7 timestamp; left out",
            input=value,
            attribute="value",
        )
        return None
    date, moment, offset_missing = parts
    if moment is not None:
        return moment
    if offset_missing and not need_instant:
        ctx.issues.add(
            "time-without-offset",
            node,
            f"{value} has a time but no UTC offset; reduced to the date {date}",
            input=value,
            attribute="value",
        )
    return None if need_instant else date


@memoised(16384)
def _ts_parts(value: str) -> tuple[str, str | None, bool] | None:
    """(date, date-time with offset or None, whether a time came without offset), or None."""
    m = _TS.match(value)
    if m is None or not _valid_ts(m):
        return None
    y, mo, d, h = m["y"], m["mo"], m["d"], m["h"]
    date = y + (f"-{mo}" if mo else "") + (f"-{d}" if d else "")
    if h is None:
        return date, None, False
    if m["tz"] is None:
        return date, None, True
    tz = "Z" if m["tz"] == "Z" else f"{m['tz'][:3]}:{m['tz'][3:]}"
    return date, f"{date}T{h}:{m['mi'] or '00'}:{m['s'] or '00'}{m['f'] or ''}{tz}", False


def _valid_ts(m: re.Match[str]) -> bool:
    year = int(m["y"])
    if year < 1:
        return False
    if m["mo"] and not 1 <= int(m["mo"]) <= 12:
        return False
    if m["d"] and not 1 <= int(m["d"]) <= calendar.monthrange(year, int(m["mo"]))[1]:
        return False
    if m["h"] and (
        int(m["h"]) > 23 or (m["mi"] and int(m["mi"]) > 59) or (m["s"] and int(m["s"]) > 60)
    ):
        return False
    tz = m["tz"]
    if tz and tz != "Z" and (int(tz[1:3]) > 14 or int(tz[3:5]) > 59):
        return False
    return not (m["d"] is None and m["h"] is not None)


def period(time: IVL_TS | None, ctx: MappingContext) -> dict[str, str] | None:
    if time is None:
        return None
    out = {}
    start = date_time(time.low, ctx, time.node)
    end = date_time(time.high, ctx, time.node)
    if start:
        out["start"] = start
    if end:
        out["end"] = end
    return out or None


def effective(time: IVL_TS | None, ctx: MappingContext) -> tuple[str, Any] | None:
    """effectiveTime → ("effectiveDateTime", …) for a point, ("effectivePeriod", …) for a span."""
    if time is None:
        return None
    if time.value:
        point = date_time(time.value, ctx, time.node)
        return ("effectiveDateTime", point) if point else None
    if time.low and time.low == time.high:
        point = date_time(time.low, ctx, time.node)
        return ("effectiveDateTime", point) if point else None
    span = period(time, ctx)
    return ("effectivePeriod", span) if span else None


# Numbers and quantities ---------------------------------------------------

_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?[0-9]+,[0-9]+$")
_MAX_EXPONENT = 30  # lab values never need more; 1e300000000 would take gigabytes to print
_COMPARATOR = re.compile(r"^(<=|>=|<|>)\s*(.+)$")


def decimal(text: str | None, ctx: MappingContext, node: Any) -> Decimal | None:
    """A decimal exactly as written ("0.70" stays 0.70); "0,95" is read as 0.95 with a warning."""
    if text is None:
        return None
    written = text.strip()
    if _DECIMAL.match(written):
        number = Decimal(written)
        if _fits_fhir(number):
            return number
        ctx.issues.add(
            "invalid-number",
            node,
            f"{written[:40]!r} has more digits or a larger exponent than a FHIR decimal holds",
            input=written[:40],
            attribute="value",
        )
        return None
    if _DECIMAL_COMMA.match(written):
        ctx.issues.add(
            "decimal-comma",
            node,
            f"decimal {written!r} written with a comma; read as {written.replace(',', '.')}",
            input=written,
            attribute="value",
        )
        return Decimal(written.replace(",", "."))
    ctx.issues.add(
        "invalid-number",
        node,
        f"{written!r} is not a decimal number",
        input=written,
        attribute="value",
    )
    return None


def _fits_fhir(number: Decimal) -> bool:
    """FHIR decimals: at most 18 digits before the point and 17 after, a sane exponent."""
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or abs(number.adjusted()) > _MAX_EXPONENT:
        return False
    return -exponent <= 17 and len(digits) + exponent <= 18


def quantity(
    value: str | None,
    unit: str | None,
    ctx: MappingContext,
    node: Any,
    *,
    simple: bool = False,
) -> dict[str, Any] | None:
    """A Quantity with its UCUM code; a unit that is not UCUM stays as text only (brief §10).

    `simple` (SimpleQuantity, for ranges) refuses a comparator in the value.
    """
    out: dict[str, Any] = {}
    written = value.strip() if value else None
    comparator = _COMPARATOR.match(written) if written and not simple else None
    if comparator:
        out["comparator"] = comparator[1]
        written = comparator[2]
    number = decimal(written, ctx, node)
    if number is None:
        return None
    out["value"] = number
    if unit and unit.strip() and unit.strip() != "1":
        out.update(_unit(unit, ctx, node))
    return out


def _unit(unit: str, ctx: MappingContext, node: Any) -> dict[str, str]:
    reading = read_unit(unit)
    if reading.code is None:
        ctx.issues.add(
            "unit-not-ucum",
            node,
            f"unit {unit!r} is not UCUM: kept as text, without system, never converted",
            input=unit,
            attribute="unit",
        )
        return {"unit": unit}
    if reading.aliased:
        ctx.issues.add(
            "unit-alias",
            node,
            f"unit {unit!r} read as UCUM {reading.code!r}",
            input=unit,
            attribute="unit",
            severity="information",
        )
    return {"unit": unit, "system": UCUM, "code": reading.code}


# People and places ----------------------------------------------------------


_NAME_USE = {"L": "official", "P": "nickname", "A": "nickname", "ASGN": "usual", "C": "official"}


def human_names(name: PersonName | None) -> list[dict[str, Any]]:
    """CDA name → HumanNames; INS-style BR/CL qualifiers give an official and a usual name.

    Birth names (qualifier BR) with the unqualified list of birth first names form the
    official name (the INS list of first names is space-separated); qualifier CL
    (nom et prénom utilisés) forms the usual name.
    """
    if name is None:
        return []
    if name.text:
        return [{"text": name.text}]
    qualified = any(p.qualifier in ("BR", "CL", "SP") for p in name.parts)
    if not qualified:
        single = _name_from_parts(name.parts, split_given=False)
        use = _NAME_USE.get(name.use or "")
        return [{"use": use, **single} if use else single] if single else []
    birth = [p for p in name.parts if p.qualifier in ("BR", None)]
    listed_given = [p for p in birth if p.kind == "given" and p.qualifier is None]
    if listed_given:
        birth = [p for p in birth if not (p.kind == "given" and p.qualifier == "BR")]
    names = []
    official = _name_from_parts(birth, split_given=bool(listed_given))
    if official:
        names.append({"use": "official", **official})
    # Nom et prénom utilisés (CL); a spouse's name (SP) is the used family name when no
    # CL family name is given
    used = [p for p in name.parts if p.qualifier == "CL"]
    if not any(p.kind == "family" for p in used):
        used = [p for p in name.parts if p.qualifier == "SP" and p.kind == "family"] + used
    usual = _name_from_parts(used, split_given=False)
    if usual:
        names.append({"use": "usual", **usual})
    return names


def _name_from_parts(parts: list, *, split_given: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    family = [p.text for p in parts if p.kind == "family"]
    given = [p.text for p in parts if p.kind == "given"]
    if split_given:
        given = [g for text in given for g in text.split()]
    prefix = [p.text for p in parts if p.kind == "prefix"]
    suffix = [p.text for p in parts if p.kind == "suffix"]
    if family:
        out["family"] = " ".join(family)
    if given:
        out["given"] = given
    if prefix:
        out["prefix"] = prefix
    if suffix:
        out["suffix"] = suffix
    return out


def address(addr: Address) -> dict[str, Any]:
    out: dict[str, Any] = {}
    use = ADDRESS_USE.get(addr.use or "")
    if use:
        out["use"] = use
    if addr.lines:
        out["line"] = list(addr.lines)
    for field, value in (
        ("city", addr.city),
        ("district", addr.district),
        ("state", addr.state),
        ("postalCode", addr.postal_code),
        ("country", addr.country),
    ):
        if value:
            out[field] = value
    return out


_SCHEMES = {"tel": "phone", "fax": "fax", "mailto": "email", "http": "url", "https": "url"}


def telecom(t: Telecom) -> dict[str, Any] | None:
    """A ContactPoint; None for an empty one ("tel:" alone)."""
    scheme, sep, rest = t.value.partition(":")
    if not (rest.strip() if sep else t.value.strip()):
        return None
    system = _SCHEMES.get(scheme.lower()) if sep else None
    out: dict[str, Any] = {
        "system": system or "other",
        "value": t.value if system in (None, "url") else rest.strip(),
    }
    use = TELECOM_USE.get(t.use or "")
    if use:
        out["use"] = use
    return out


def telecoms(items: tuple[Telecom, ...]) -> list[dict[str, Any]]:
    """ContactPoints of the non-empty telecoms."""
    return [c for c in map(telecom, items) if c is not None]
