"""Reader for the structured body: sections and the CR-BIO entries inside them.

Statements are classified by their templateIds (IHE or French, either is enough)
and, where a producer left the ids out, by what they are (organizer classCode,
comment code). Anything else becomes an `UnknownEntry` for the mapping layer to
report, never an exception.
"""

from __future__ import annotations

from lxml import etree

from bridge.cda import templates as t
from bridge.cda.datatypes import CD, ED
from bridge.cda.limits import MAX_DEPTH, too_deep
from bridge.cda.model import (
    AttachedDocument,
    Battery,
    BodyEntry,
    Comment,
    EarlierResult,
    Entity,
    Isolate,
    LabReportAct,
    LabResult,
    Media,
    Participation,
    ReferenceRange,
    Section,
    SpecimenCollection,
    UnknownEntry,
)
from bridge.cda.reading.narrative import read_narrative
from bridge.cda.reading.participants import read_participation
from bridge.cda.reading.tables import TableGrids
from bridge.cda.reading.values import read_cd, read_ed, read_ids, read_time, read_value
from bridge.cda.reading.xml import (
    NONE,
    Kids,
    NarrativeIndex,
    child,
    kids,
    local_name,
    one,
    plain_text,
    trimmed,
)

__all__ = ["BodyReader"]

_STATEMENTS = frozenset(
    {
        "act",
        "observation",
        "organizer",
        "procedure",
        "observationMedia",
        "substanceAdministration",
        "supply",
        "encounter",
        "regionOfInterest",
    }
)


def _template_ids(k: Kids) -> tuple[str, ...]:
    roots = []
    for el in k.get("templateId", NONE):
        root = el.get("root")
        if root:
            roots.append(root)
    return tuple(roots)


def _has(ids: tuple[str, ...], template: tuple[str, ...]) -> bool:
    """Whether any of `ids` is one of `template`'s ids (a plain loop: called for every entry)."""
    for i in ids:
        if i in template:
            return True
    return False


def _statement(k: Kids) -> etree._Element | None:
    """The clinical statement inside an entry / entryRelationship / component."""
    for name, group in k.items():
        if name in _STATEMENTS:
            return group[0]
    return None


def _code_value(k: Kids) -> str | None:
    code = one(k, "code")
    return code.get("code") if code is not None else None


def _status(k: Kids) -> str | None:
    status = one(k, "statusCode")
    return status.get("code") if status is not None else None


class BodyReader:
    """Reads sections and entries of one document, resolving narrative references."""

    def __init__(self, narrative: NarrativeIndex) -> None:
        self.narrative = narrative
        self.tables = TableGrids()

    def cd(self, el: etree._Element | None) -> CD | None:
        return read_cd(el, self.narrative)

    def code(self, el: etree._Element | None) -> CD | None:
        """The code of a result, battery or isolate, with the place in the narrative its
        originalText points at: the mapping layer looks there for the analysis's name."""
        code = read_cd(el, self.narrative)
        if code is not None and code.original_text_ref:
            target = self.narrative.target(code.original_text_ref)
            if target is not None:
                code.original_text_place = self.tables.place(target)
        return code

    # Sections -------------------------------------------------------------

    def sections(self, structured_body: etree._Element) -> tuple[Section, ...]:
        found = []
        for i, comp in enumerate(kids(structured_body).get("component", NONE), 1):
            section = child(comp, "section")
            if section is not None:
                found.append(self.section(section, str(i), 0))
        return tuple(found)

    def section(self, el: etree._Element, key: str, depth: int) -> Section:
        if depth > MAX_DEPTH:
            raise too_deep("sections")
        k = kids(el)
        entries = []
        for i, entry in enumerate(k.get("entry", NONE), 1):
            ek = kids(entry)
            stmt = _statement(ek)
            if stmt is not None:
                entries.append(self.statement(stmt, _template_ids(ek), f"{key}/e{i}", depth))
        subsections = []
        for i, comp in enumerate(k.get("component", NONE), 1):
            sub = child(comp, "section")
            if sub is not None:
                subsections.append(self.section(sub, f"{key}.{i}", depth + 1))
        narrative_only = not entries and not subsections
        text = one(k, "text")
        return Section(
            key=key,
            template_ids=_template_ids(k),
            code=self.cd(one(k, "code")),
            title=plain_text(one(k, "title")),
            text=plain_text(text) if narrative_only else None,
            entries=tuple(entries),
            sections=tuple(subsections),
            ids=read_ids(k.get("id")),
            node=el,
            narrative=read_narrative(text),
        )

    # Statements -----------------------------------------------------------

    def statement(
        self, el: etree._Element, outer_ids: tuple[str, ...], key: str, depth: int
    ) -> BodyEntry:
        """Classify one clinical statement and read it."""
        if depth > MAX_DEPTH:
            raise too_deep("entries")
        k = kids(el)
        ids = outer_ids + _template_ids(k)
        kind = local_name(el)
        if kind == "observation" and _has(ids, t.LAB_OBSERVATION):
            return self.result(el, k, key, depth)
        if kind == "act":
            if _has(ids, t.LAB_REPORT_DATA_PROCESSING):
                return self.lab_act(el, k, key, depth)
            if _has(ids, t.COMMENT) or _code_value(k) == t.COMMENT_CODE:
                return self.comment(el, k, key)
        elif kind == "organizer":
            if _has(ids, t.LAB_ISOLATE):
                return self.isolate(el, k, key, depth)
            if _has(ids, t.LAB_BATTERY) or el.get("classCode") == "BATTERY":
                return self.battery(el, k, key, depth)
            if _has(ids, t.ATTACHED_DOCUMENT):
                return self.attached_document(el, k, key)
        elif kind == "observationMedia":
            return self.media(el, k, key)
        elif kind == "procedure" and _has(ids, t.SPECIMEN_COLLECTION):
            return self.specimen_collection(el, k, key)
        return UnknownEntry(key=key, element=kind, template_ids=ids, node=el)

    def _parts(self, holders: list[etree._Element], key: str, depth: int) -> _Parts:
        """Read the statements of `entryRelationship` / `component` holders, sorted by kind."""
        parts = _Parts()
        for i, holder in enumerate(holders, 1):
            hk = kids(holder)
            stmt = _statement(hk)
            if stmt is None:
                continue
            if holder.get("typeCode") == "REFR":
                parts.earlier += self._earlier(stmt, f"{key}/r{i}", depth + 1)
                continue
            parts.add(self.statement(stmt, _template_ids(hk), f"{key}/{i}", depth + 1))
        return parts

    def _earlier(
        self, stmt: etree._Element, key: str, depth: int
    ) -> list[EarlierResult | UnknownEntry]:
        """What a REFR holder refers to: earlier results, never current ones.

        An observation is an earlier result; an organizer of earlier results gives each of
        its observations; anything else cannot be shown as an earlier result and is
        reported (never read as a current result)."""
        if depth > MAX_DEPTH:
            raise too_deep("earlier results (REFR organizers)")
        kind = local_name(stmt)
        if kind == "observation":
            return [self.earlier_result(stmt, key)]
        found: list[EarlierResult | UnknownEntry] = []
        if kind == "organizer":
            for j, component in enumerate(kids(stmt).get("component", NONE), 1):
                inner = _statement(kids(component))
                if inner is not None:
                    found += self._earlier(inner, f"{key}.{j}", depth + 1)
            return found
        why = (
            f"<{kind}> referred to as an earlier result (REFR) is not an observation: "
            "it is not shown"
        )
        return [
            UnknownEntry(
                key=key, element=kind, template_ids=_template_ids(kids(stmt)), why=why, node=stmt
            )
        ]

    def lab_act(self, el: etree._Element, k: Kids, key: str, depth: int) -> LabReportAct:
        parts = self._parts(k.get("entryRelationship", NONE), key, depth)
        return LabReportAct(
            key=key,
            code=self.cd(one(k, "code")),
            status=_status(k),
            members=tuple(parts.members + parts.media + parts.unread(in_result=False)),
            comments=tuple(parts.comments),
            performers=self._performers(k),
            validators=self._participants(k, "AUTHEN"),
            specimens=tuple(parts.specimens),
            devices=self._devices(k),
            node=el,
        )

    def battery(self, el: etree._Element, k: Kids, key: str, depth: int) -> Battery:
        parts = self._parts(k.get("component", NONE), key, depth)
        return Battery(
            key=key,
            code=self.code(one(k, "code")),
            ids=read_ids(k.get("id")),
            status=_status(k),
            effective=read_time(one(k, "effectiveTime")),
            members=tuple(parts.members + parts.unread(in_result=False)),
            comments=tuple(parts.comments),
            performers=self._performers(k),
            validators=self._participants(k, "AUTHEN"),
            specimens=tuple(parts.specimens),
            media=tuple(parts.media),
            node=el,
        )

    def isolate(self, el: etree._Element, k: Kids, key: str, depth: int) -> Isolate:
        parts = self._parts(k.get("component", NONE), key, depth)
        role = kids(child(one(k, "specimen"), "specimenRole"))
        organism = kids(one(role, "specimenPlayingEntity"))
        return Isolate(
            key=key,
            organism=self.cd(one(organism, "code")),
            isolate_ids=read_ids(role.get("id")),
            code=self.code(one(k, "code")),
            ids=read_ids(k.get("id")),
            status=_status(k),
            effective=read_time(one(k, "effectiveTime")),
            members=tuple(parts.members + parts.unread(in_result=False)),
            comments=tuple(parts.comments),
            performers=self._performers(k),
            validators=self._participants(k, "AUTHEN"),
            specimens=tuple(parts.specimens),
            media=tuple(parts.media),
            node=el,
        )

    def result(self, el: etree._Element, k: Kids, key: str, depth: int) -> LabResult:
        parts = self._parts(k.get("entryRelationship", NONE), key, depth)
        return LabResult(
            key=key,
            code=self.code(one(k, "code")),
            ids=read_ids(k.get("id")),
            status=_status(k),
            effective=read_time(one(k, "effectiveTime")),
            value=read_value(one(k, "value"), self.narrative),
            interpretations=self._codes(k, "interpretationCode"),
            methods=self._codes(k, "methodCode"),
            reference_ranges=tuple(self.reference_range(r) for r in k.get("referenceRange", NONE)),
            comments=tuple(parts.comments),
            earlier_results=parts.earlier_results(),
            performers=self._performers(k),
            validators=self._participants(k, "AUTHEN"),
            specimens=tuple(parts.specimens + self._specimen_roles(k, key)),
            media=tuple(parts.media),
            devices=self._devices(k),
            nested=tuple(parts.members + parts.unread(in_result=True)),
            node=el,
        )

    def earlier_result(self, el: etree._Element, key: str) -> EarlierResult:
        k = kids(el)
        return EarlierResult(
            key=key,
            code=self.code(one(k, "code")),
            status=_status(k),
            effective=read_time(one(k, "effectiveTime")),
            value=read_value(one(k, "value"), self.narrative),
            interpretations=self._codes(k, "interpretationCode"),
            node=el,
        )

    def reference_range(self, el: etree._Element) -> ReferenceRange:
        obs_range = child(el, "observationRange")
        rk = kids(obs_range)
        text_el = one(rk, "text")
        text = None
        if text_el is not None:
            ref = child(text_el, "reference")
            text = self.narrative.text(ref.get("value")) if ref is not None else plain_text(text_el)
        return ReferenceRange(
            value=read_value(one(rk, "value"), self.narrative),
            interpretation=self.cd(one(rk, "interpretationCode")),
            text=text,
            node=obs_range if obs_range is not None else el,
        )

    def comment(self, el: etree._Element, k: Kids, key: str) -> Comment:
        text_el = one(k, "text")
        ref_el = child(text_el, "reference")
        ref = trimmed(ref_el.get("value")) if ref_el is not None else None
        text = self.narrative.text(ref) if ref else None
        if text is None and ref_el is None:
            text = plain_text(text_el)
        return Comment(key=key, text=text, text_ref=ref, node=el)

    def media(self, el: etree._Element, k: Kids, key: str) -> Media:
        value = one(k, "value")
        content = read_ed(value, self.narrative) if value is not None else ED(None)
        return Media(key=key, media_id=trimmed(el.get("ID")), content=content, node=el)

    def attached_document(self, el: etree._Element, k: Kids, key: str) -> AttachedDocument:
        doc_type = title = media = None
        for i, comp in enumerate(k.get("component", NONE), 1):
            stmt = _statement(kids(comp))
            if stmt is None:
                continue
            sk = kids(stmt)
            if local_name(stmt) == "observationMedia":
                media = self.media(stmt, sk, f"{key}/{i}")
            elif local_name(stmt) == "observation":
                doc_type = self.cd(one(sk, "value"))
                ref = child(one(sk, "text"), "reference")
                title = self.narrative.text(ref.get("value")) if ref is not None else None
        return AttachedDocument(key=key, type=doc_type, title=title, media=media, node=el)

    def specimen_collection(self, el: etree._Element, k: Kids, key: str) -> SpecimenCollection:
        specimen_ids: tuple = ()
        specimen_type = None
        for participant in k.get("participant", NONE):
            role = kids(child(participant, "participantRole"))
            if participant.get("typeCode") == "PRD" and role:
                specimen_ids = read_ids(role.get("id"))
                specimen_type = self.cd(child(one(role, "playingEntity"), "code"))
        received = None
        for rel in k.get("entryRelationship", NONE):
            ak = kids(child(rel, "act"))
            if _has(_template_ids(ak), t.SPECIMEN_RECEIVED):
                time = read_time(one(ak, "effectiveTime"))
                received = (time.value or time.low) if time else None
        collectors = self._performers(k)
        return SpecimenCollection(
            key=key,
            code=self.cd(one(k, "code")),
            effective=read_time(one(k, "effectiveTime")),
            target_site=self.cd(one(k, "targetSiteCode")),
            collector=collectors[0].entity if collectors else None,
            specimen_ids=specimen_ids,
            specimen_type=specimen_type,
            received_time=received,
            node=el,
        )

    def _specimen_roles(self, k: Kids, key: str) -> list[SpecimenCollection]:
        """`specimen` participations written directly on an observation."""
        found = []
        for i, spec in enumerate(k.get("specimen", NONE), 1):
            role = kids(child(spec, "specimenRole"))
            if role:
                found.append(
                    SpecimenCollection(
                        key=f"{key}/s{i}",
                        specimen_ids=read_ids(role.get("id")),
                        specimen_type=self.cd(child(one(role, "specimenPlayingEntity"), "code")),
                        node=spec,
                    )
                )
        return found

    # Participations -------------------------------------------------------

    # Plain loops rather than nested generators: these run for every statement,
    # most of which have no performer, participant or extra code at all.

    def _codes(self, k: Kids, name: str) -> tuple[CD, ...]:
        found = []
        for el in k.get(name, NONE):
            code = self.cd(el)
            if code is not None:
                found.append(code)
        return tuple(found)

    def _performers(self, k: Kids) -> tuple[Participation, ...]:
        found = []
        for el in k.get("performer", NONE):
            participation = read_participation(el, self.narrative)
            if participation:
                found.append(participation)
        return tuple(found)

    def _participants(self, k: Kids, type_code: str) -> tuple[Participation, ...]:
        found = []
        for el in k.get("participant", NONE):
            if el.get("typeCode") == type_code:
                participation = read_participation(el, self.narrative)
                if participation:
                    found.append(participation)
        return tuple(found)

    def _devices(self, k: Kids) -> tuple[Entity, ...]:
        return tuple(p.entity for p in self._participants(k, "DEV"))


class _Parts:
    """The statements found under one container, sorted by what they become."""

    __slots__ = ("members", "comments", "specimens", "media", "earlier")

    def __init__(self) -> None:
        self.members: list[BodyEntry] = []
        self.comments: list[Comment] = []
        self.specimens: list[SpecimenCollection] = []
        self.media: list[Media] = []
        self.earlier: list[EarlierResult | UnknownEntry] = []  # under REFR holders

    def earlier_results(self) -> tuple[EarlierResult, ...]:
        return tuple(e for e in self.earlier if isinstance(e, EarlierResult))

    def unread(self, *, in_result: bool) -> list[UnknownEntry]:
        """REFR statements that cannot be shown: not observations, or, outside a result,
        earlier results with no current result to accompany."""
        unread = []
        for entry in self.earlier:
            if isinstance(entry, EarlierResult):
                if in_result:
                    continue
                entry = UnknownEntry(
                    key=entry.key,
                    element="observation",
                    why="an earlier result (REFR) outside a result has no current result to "
                    "accompany: it is not shown",
                    node=entry.node,
                )
            unread.append(entry)
        return unread

    def add(self, entry: BodyEntry) -> None:
        if isinstance(entry, Comment):
            self.comments.append(entry)
        elif isinstance(entry, SpecimenCollection):
            self.specimens.append(entry)
        elif isinstance(entry, Media):
            self.media.append(entry)
        else:
            self.members.append(entry)
