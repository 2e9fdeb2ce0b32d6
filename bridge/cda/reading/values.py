"""Readers for HL7 v3 data types: II, CD, PQ, IVL_PQ, TS, names, addresses, value[x].

Every value that becomes a FHIR string or code, or part of one, is trimmed here
(`trimmed`; codes and text `collapsed`): nothing blank leaves these readers as text.
Values that are only parsed (timestamps, integers, booleans, status codes) are left as
written; their parsers in the mapping strip them and report what does not parse.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from bridge.cda.datatypes import (
    BL,
    CD,
    ED,
    II,
    INT,
    IVL_PQ,
    IVL_TS,
    PQ,
    PQR,
    REAL,
    RTO,
    ST,
    TS,
    Address,
    NamePart,
    NullValue,
    PersonName,
    Telecom,
    UnknownValue,
    Value,
)
from bridge.cda.limits import MAX_DEPTH, too_deep
from bridge.cda.reading.xml import (
    BLANK,
    NONE,
    NarrativeIndex,
    child,
    collapsed,
    kids,
    one,
    plain_text,
    trimmed,
    xsi_type,
)

__all__ = [
    "read_address",
    "read_addresses",
    "read_cd",
    "read_ed",
    "read_ids",
    "read_ii",
    "read_ivl_pq",
    "read_name",
    "read_pq",
    "read_telecoms",
    "read_time",
    "read_value",
]

CODED_TYPES = frozenset({"CD", "CE", "CV", "CO", "CS"})


def read_ii(el: etree._Element) -> II:
    # trimmed(), inlined here and in read_cd: one or the other reads most elements
    get = el.get
    root, extension = get("root"), get("extension")
    if root:
        root = root.strip() if root.isascii() else root.strip(BLANK)
    if extension:
        extension = extension.strip() if extension.isascii() else extension.strip(BLANK)
    return II(
        root or None,
        extension or None,
        get("nullFlavor"),
        trimmed(authority) if (authority := get("assigningAuthorityName")) else None,
    )


def read_ids(elements: list[etree._Element] | None) -> tuple[II, ...]:
    """The `id` children (as found by `kids()`), without null-flavoured ones."""
    if not elements:
        return ()
    found = []
    for el in elements:
        ii = read_ii(el)  # reads nullFlavor once for both the test and the II
        if not ii.null_flavor:
            found.append(ii)
    return tuple(found)


def read_cd(el: etree._Element | None, narrative: NarrativeIndex, depth: int = 0) -> CD | None:
    """A coded element with its original text (narrative reference resolved) and translations.

    `depth` counts the translations this one is nested in (translations may have their own).
    """
    if el is None:
        return None
    get = el.get
    original_text = original_ref = None
    translations: tuple[CD, ...] = ()
    if len(el):
        k = kids(el)
        ot = one(k, "originalText")
        if ot is not None:
            ref = child(ot, "reference")
            value = ref.get("value") if ref is not None else None
            if value:
                original_ref = value
                original_text = narrative.text(value)
            if original_text is None:
                original_text = collapsed(ot.text)
        if "translation" in k:
            if depth >= MAX_DEPTH:
                raise too_deep("code translations")
            translations = tuple(read_cd(t, narrative, depth + 1) for t in k["translation"])  # type: ignore[misc]
    # collapsed() and trimmed(), inlined (see read_ii); @codeSystemName is only looked up
    code, system, display = get("code"), get("codeSystem"), get("displayName")
    if code:
        code = code.strip() if code.isascii() else code.strip(BLANK)
        if " " in code or not code.isprintable():  # whitespace inside: one space per run
            code = " ".join(code.split())
    if system:
        system = system.strip() if system.isascii() else system.strip(BLANK)
    if display:
        display = display.strip() if display.isascii() else display.strip(BLANK)
    return CD(
        code or None,
        system or None,
        get("codeSystemName"),
        display or None,
        original_text,
        original_ref,
        translations,
        get("nullFlavor"),
        el,
    )


def read_pq(el: etree._Element | None) -> PQ | None:
    if el is None:
        return None
    translations: tuple[PQR, ...] = ()
    if len(el):
        translations = tuple(
            PQR(trimmed(t.get("value")), trimmed(t.get("code")), t.get("codeSystem"), t)
            for t in kids(el).get("translation", NONE)
        )
    return PQ(
        trimmed(el.get("value")), trimmed(el.get("unit")), translations, el.get("nullFlavor"), el
    )


def read_ivl_pq(el: etree._Element) -> IVL_PQ:
    k = kids(el)
    low, high = one(k, "low"), one(k, "high")
    return IVL_PQ(
        low=read_pq(low),
        high=read_pq(high),
        low_closed=low is None or low.get("inclusive") != "false",
        high_closed=high is None or high.get("inclusive") != "false",
        center=read_pq(one(k, "center")),
        null_flavor=el.get("nullFlavor"),
        node=el,
    )


def read_time(el: etree._Element | None) -> IVL_TS | None:
    """effectiveTime / time: a point (`@value`) or an interval (`low` / `high`)."""
    if el is None:
        return None
    value = el.get("value")
    low = high = None
    if len(el):
        k = kids(el)
        low_el, high_el, center = one(k, "low"), one(k, "high"), one(k, "center")
        low = low_el.get("value") if low_el is not None else None
        high = high_el.get("value") if high_el is not None else None
        if value is None and center is not None:
            value = center.get("value")
    return IVL_TS(value, low, high, el.get("nullFlavor"), el)


def read_ed(el: etree._Element, narrative: NarrativeIndex) -> ED:
    """Encapsulated data: base64 kept as is, text collapsed, a narrative reference resolved."""
    reference = child(el, "reference") if len(el) else None
    ref = trimmed(reference.get("value")) if reference is not None else None
    text = narrative.text(ref) if ref else None
    representation = el.get("representation")
    if text is None:
        text = el.text if representation == "B64" else plain_text(el)
    return ED(text, collapsed(el.get("mediaType")), representation, ref, el)


def _read_rto(el: etree._Element) -> RTO:
    k = kids(el)
    return RTO(read_pq(one(k, "numerator")), read_pq(one(k, "denominator")), el)


_SIMPLE_READERS: dict[str, Callable[[etree._Element], Value | None]] = {
    "PQ": read_pq,
    "IVL_PQ": read_ivl_pq,
    "INT": lambda el: INT(el.get("value"), el),
    "REAL": lambda el: REAL(el.get("value"), el),
    "BL": lambda el: BL(el.get("value"), el),
    "TS": lambda el: TS(el.get("value"), el.get("nullFlavor"), el),
    "IVL_TS": read_time,
    "RTO": _read_rto,
    "RTO_PQ_PQ": _read_rto,
    "RTO_INT_INT": _read_rto,
}


def read_value(el: etree._Element | None, narrative: NarrativeIndex) -> Value | None:
    """observation/value, dispatched on its xsi:type (resolved as a QName)."""
    if el is None:
        return None
    kind = xsi_type(el)
    if kind in CODED_TYPES:
        return read_cd(el, narrative)
    null_flavor = el.get("nullFlavor")
    if null_flavor and el.get("value") is None and len(el) == 0:
        return NullValue(null_flavor, kind, el)
    if kind in ("ST", "SC"):
        return ST(plain_text(el) or "", el)
    if kind == "ED":
        return read_ed(el, narrative)
    reader = _SIMPLE_READERS.get(kind or "")
    if reader is None:
        return UnknownValue(kind or "(no xsi:type)", plain_text(el) or _attribute_text(el), el)
    return reader(el)


def _attribute_text(el: etree._Element) -> str | None:
    """The value of an unknown type as a reader would say it: "12 EUR", never "12" alone
    when a unit or currency goes with it."""
    said = [trimmed(el.get(name)) for name in ("value", "unit", "currency")]
    return " ".join(part for part in said if part) or None


_NAME_PARTS = frozenset({"family", "given", "prefix", "suffix"})


def read_name(el: etree._Element | None) -> PersonName | None:
    """A person name from its parts; a name written as plain text is kept as text."""
    if el is None or el.get("nullFlavor"):
        return None
    parts = []
    for part in el:
        raw = part.text
        if raw:
            kind = part.tag.rpartition("}")[2]  # local_name(), inlined: this loop is hot
            if kind in _NAME_PARTS and (text := " ".join(raw.split())):  # collapsed(), inlined
                if not text.isascii() and not (text := text.strip(BLANK)):
                    continue
                parts.append(NamePart(kind, text, part.get("qualifier")))
    if parts:
        return PersonName(tuple(parts), use=el.get("use"))
    text = collapsed(el.text)
    return PersonName((), use=el.get("use"), text=text) if text else None


_STREET_PARTS = ("houseNumber", "buildingNumberSuffix", "streetNameType", "streetName")
_EXTRA_LINES = ("unitID", "additionalLocator", "deliveryAddressLine", "careOf", "postBox")
_FIELD_PARTS = frozenset({"city", "postalCode", "state", "country", "county"})


def read_address(el: etree._Element | None) -> Address | None:
    """An address in one pass over its parts; street parts join into the first line."""
    if el is None or el.get("nullFlavor"):
        return None
    found: dict[str, str] = {}  # the first text of each part, by local name
    lines: list[str] = []
    for part in el:
        raw = part.text
        if not raw:
            continue
        text = " ".join(raw.split())  # collapsed(), inlined: this loop is hot
        if not text.isascii():
            text = text.strip(BLANK)
        if not text:
            continue
        name = part.tag.rpartition("}")[2]  # local_name(), inlined: this loop is hot
        if name == "streetAddressLine":
            lines.append(text)
        elif name not in found:
            found[name] = text
    street = " ".join([found[name] for name in _STREET_PARTS if name in found])
    if street:
        lines.insert(0, street)
    lines += [found[name] for name in _EXTRA_LINES if name in found]
    if len(el) == 0 and (text := collapsed(el.text)):
        lines.append(text)
    if not lines and found.keys().isdisjoint(_FIELD_PARTS):
        return None
    get = found.get
    return Address(
        lines=tuple(lines),
        city=get("city"),
        postal_code=get("postalCode"),
        state=get("state"),
        country=get("country"),
        district=get("county"),
        use=el.get("use"),
    )


def read_addresses(elements: list[etree._Element] | None) -> tuple[Address, ...]:
    if not elements:
        return ()
    found = []
    for el in elements:
        address = read_address(el)
        if address is not None:
            found.append(address)
    return tuple(found)


def read_telecoms(elements: list[etree._Element] | None) -> tuple[Telecom, ...]:
    if not elements:
        return ()
    found = []
    for el in elements:
        value = el.get("value")
        if value and not el.get("nullFlavor"):
            value = value.strip() if value.isascii() else value.strip(BLANK)  # trimmed()
            if value:
                found.append(Telecom(value, el.get("use")))
    return tuple(found)
