"""Mutations of valid CR-BIO documents: structure-aware (on the lxml tree) and byte-level.

Each mutant starts from one seed document and applies a few operators chosen at random
(`random.Random`, so that a seed number or hypothesis' own random replays an input).
Structure-aware operators keep the document well-formed and mostly CR-BIO-shaped, so
that inputs reach the readers and mappers rather than stop at the parser; byte-level
operators exercise the parser and the refusals.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from bridge.cda import templates
from tests.fuzzing.values import ATTRIBUTES, TEMPLATE_IDS, XSI_TYPES, odd_value
from tests.helpers import corpus_files, example_files

__all__ = ["Mutant", "Mutator", "seed_files"]

V3 = "urn:hl7-org:v3"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_PARSER = etree.XMLParser(huge_tree=True, remove_comments=True, resolve_entities=False)

TAGS = (
    "observation",
    "organizer",
    "act",
    "section",
    "component",
    "entry",
    "entryRelationship",
    "translation",
    "value",
    "code",
    "templateId",
    "id",
    "effectiveTime",
    "low",
    "high",
    "center",
    "referenceRange",
    "observationRange",
    "text",
    "originalText",
    "reference",
    "specimen",
    "specimenRole",
    "performer",
    "participant",
    "participantRole",
    "observationMedia",
    "procedure",
    "name",
    "addr",
    "telecom",
    "family",
    "given",
    "statusCode",
    "interpretationCode",
    "methodCode",
    "numerator",
    "denominator",
    "content",
    "paragraph",
    "table",
    "td",
)
# How deep a nesting operator goes: within the bounds, just past them, and far beyond
# Python's stack (libxml2 stops at 2,048)
DEPTHS = (2, 3, 8, 33, 40, 300, 1200, 2047, 2500)
SPECIAL_BYTES = (
    b"<",
    b">",
    b"&",
    b"&#0;",
    b"&#xD800;",
    b"&#160;",
    b"&#x200B;",
    b"]]>",
    b"<![CDATA[x]]>",
    b"<!DOCTYPE x>",
    b"<?pi x?>",
    b"<!-- -->",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b'"',
    b"'",
    b"xmlns=''",
    b'xsi:type="PQ"',
)


def seed_files() -> list[Path]:
    """The documents mutated: the project's examples, then the corpus when present."""
    return example_files() + corpus_files()


@dataclass(slots=True)
class Mutant:
    data: bytes
    seed: str
    operators: list[str] = field(default_factory=list)


class Mutator:
    """Makes mutants of the seed documents, each from a `random.Random`."""

    def __init__(self, seeds: list[Path] | None = None) -> None:
        self.seeds: list[tuple[str, etree._Element, bytes]] = []
        for path in seeds if seeds is not None else seed_files():
            data = path.read_bytes()
            self.seeds.append((path.name, etree.fromstring(data, _PARSER), data))

    def mutant(self, rng: random.Random) -> Mutant:
        name, tree, raw = rng.choice(self.seeds)
        if rng.random() < 0.12:  # bytes of the seed as written
            mutant = Mutant(raw, name)
        else:
            root = copy.deepcopy(tree)
            mutant = Mutant(b"", name)
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6))):
                operator = rng.choice(STRUCTURE_OPERATORS)
                operator(root, rng)
                mutant.operators.append(operator.__name__)
            mutant.data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
            if rng.random() > 0.12:
                return mutant
        operator = rng.choice(BYTE_OPERATORS)
        mutant.data = operator(mutant.data, rng)
        mutant.operators.append(operator.__name__)
        return mutant


# Structure-aware operators --------------------------------------------------------------


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _pick(root: etree._Element, rng: random.Random, *names: str) -> etree._Element:
    """A random element, one called one of `names` when the document has any."""
    elements = _elements(root)
    if names:
        wanted = [el for el in elements if etree.QName(el).localname in names]
        if wanted:
            return rng.choice(wanted)
    return rng.choice(elements)


def _v3(name: str) -> str:
    return f"{{{V3}}}{name}"


def delete_element(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng)
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


def duplicate_element(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng)
    if el.getparent() is not None:
        el.addnext(copy.deepcopy(el))


def move_element(root: etree._Element, rng: random.Random) -> None:
    el, target = _pick(root, rng), _pick(root, rng)
    if el.getparent() is None or el is target or el in target.iterancestors():
        return
    target.insert(rng.randint(0, len(target)), copy.deepcopy(el) if rng.random() < 0.5 else el)


def set_attribute(root: etree._Element, rng: random.Random) -> None:
    elements = [el for el in _elements(root) if el.attrib] if rng.random() < 0.8 else None
    el = rng.choice(elements) if elements else _pick(root, rng)
    names = list(el.attrib) if el.attrib and rng.random() < 0.8 else list(ATTRIBUTES)
    name = rng.choice(names)
    el.set(name, odd_value(rng, name))


def delete_attribute(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng, "templateId", "id", "code", "value", "translation", "statusCode")
    if el.attrib:
        del el.attrib[rng.choice(list(el.attrib))]


def set_text(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng)
    if len(el) and rng.random() < 0.5:
        el[:] = []
    el.text = odd_value(rng)


def set_xsi_type(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng, "value", "observationRange")
    el.set(XSI_TYPE, rng.choice(XSI_TYPES))


def rename_element(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng)
    if el.getparent() is not None:
        el.tag = _v3(rng.choice(TAGS))


def swap_template(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng, "templateId")
    if rng.random() < 0.3:
        el.attrib.pop("root", None)  # a templateId without root
    else:
        el.set("root", rng.choice(TEMPLATE_IDS + ("", " ", "1.2.3")))


def set_null_flavor(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng, "value", "code", "id", "effectiveTime", "name", "addr", "low")
    el.set("nullFlavor", rng.choice(("NI", "UNK", "NA", "ASKU", "NAV", "MSK", "OTH", "TRC", "")))
    if rng.random() < 0.5:
        for name in ("value", "code", "unit", "root"):
            el.attrib.pop(name, None)


def shuffle_children(root: etree._Element, rng: random.Random) -> None:
    el = _pick(root, rng)
    children = list(el)
    rng.shuffle(children)
    el[:] = children


def _chain(
    top: etree._Element, steps: tuple[tuple[str, dict[str, str]], ...], depth: int
) -> etree._Element:
    """Append `depth` repetitions of `steps` below `top`; the innermost element."""
    current = top
    for _ in range(depth):
        for name, attributes in steps:
            current = etree.SubElement(current, _v3(name), attributes)
    return current


LOINC = {"code": "2345-7", "codeSystem": "2.16.840.1.113883.6.1"}
BATTERY = {"classCode": "BATTERY", "moodCode": "EVN"}


def nest_deep(root: etree._Element, rng: random.Random) -> None:
    """Nest what CR-BIO nests (translations, sections, organizers, REFR, narrative) deep."""
    depth = rng.choice(DEPTHS)
    kind = rng.choice(("translation", "section", "organizer", "refr", "narrative", "self"))
    if kind == "translation":
        _chain(
            _pick(root, rng, "code", "value", "interpretationCode"),
            (("translation", LOINC),),
            depth,
        )
    elif kind == "section":
        bottom = _chain(_pick(root, rng, "section"), (("component", {}), ("section", {})), depth)
        etree.SubElement(bottom, _v3("templateId"), {"root": templates.CHAPTER_SECTION[0]})
    elif kind == "organizer":
        holder = _pick(root, rng, "entryRelationship", "component", "entry")
        bottom = _chain(holder, (("organizer", BATTERY), ("component", {})), depth)
        observation = _pick(root, rng, "observation")
        bottom.append(copy.deepcopy(observation) if len(observation) < 50 else etree.Element("x"))
    elif kind == "refr":
        observation = _pick(root, rng, "observation")
        relationship = etree.SubElement(observation, _v3("entryRelationship"), {"typeCode": "REFR"})
        bottom = _chain(
            relationship, (("organizer", {"classCode": "CLUSTER"}), ("component", {})), depth
        )
        result = etree.SubElement(bottom, _v3("observation"), {"classCode": "OBS"})
        etree.SubElement(result, _v3("code"), LOINC)
    elif kind == "narrative":
        text = _pick(root, rng, "text", "td", "paragraph")
        bottom = _chain(text, ((rng.choice(("content", "paragraph", "list")), {}),), depth)
        bottom.text = "deep"
    else:
        el = _pick(root, rng)
        _chain(el, ((etree.QName(el).localname, dict(el.attrib)),), depth)


STRUCTURE_OPERATORS: tuple[Callable[[etree._Element, random.Random], None], ...] = (
    delete_element,
    duplicate_element,
    move_element,
    set_attribute,
    set_attribute,
    set_attribute,
    delete_attribute,
    set_text,
    set_xsi_type,
    rename_element,
    swap_template,
    set_null_flavor,
    shuffle_children,
    nest_deep,
)


# Byte-level operators --------------------------------------------------------------------


def _position(data: bytes, rng: random.Random) -> int:
    return rng.randint(0, len(data))


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 8))):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    return data[:at] + rng.choice(SPECIAL_BYTES) + data[at:]


def delete_range(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    return data[:at] + data[at + rng.choice((1, 5, 50, 500)) :]


def duplicate_range(data: bytes, rng: random.Random) -> bytes:
    at = _position(data, rng)
    return data[:at] + data[at : at + rng.choice((10, 100, 1000))] + data[at:]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: _position(data, rng)]


def change_encoding(data: bytes, rng: random.Random) -> bytes:
    encoding = rng.choice((b"ISO-8859-1", b"UTF-16", b"ASCII", b"bogus", b"UTF-8 "))
    head, sep, tail = data.partition(b"?>")
    if b"encoding=" not in head:
        return data
    start = head.index(b"encoding=") + len(b"encoding=") + 1
    end = head.index(head[start - 1 : start], start)
    return head[:start] + encoding + head[end:] + sep + tail


BYTE_OPERATORS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bytes,
    insert_bytes,
    insert_bytes,
    delete_range,
    duplicate_range,
    truncate,
    change_encoding,
)
