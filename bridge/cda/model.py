"""A typed reading of a CR-BIO / BIO-TROD document: header, sections and entries.

Each body class corresponds to one CDA template (its docstring names it). Every
body object has a `key`: its position in the document (indices along the path
from the body), stable for a given document and used to derive resource ids.

The classes are slotted but not frozen: a frozen dataclass sets each field through
`object.__setattr__`, and a document is read into thousands of these objects (12 M
of the 309 M instructions of reading the 20 ANS examples). Nothing changes them once
read, and nothing hashes them. `DocumentKind`, a small value handed out with every
conversion, stays frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.cda.datatypes import CD, ED, II, IVL_PQ, IVL_TS, Address, PersonName, Telecom, Value

__all__ = [
    "AttachedDocument",
    "Battery",
    "BodyEntry",
    "CdaDocument",
    "Comment",
    "DocumentKind",
    "EarlierResult",
    "Encounter",
    "Entity",
    "Header",
    "HeaderParticipant",
    "Isolate",
    "LabReportAct",
    "LabResult",
    "Media",
    "Narrative",
    "NarrativeElement",
    "Organization",
    "Participation",
    "Patient",
    "ReferenceRange",
    "RelatedDocument",
    "Section",
    "ServiceEvent",
    "SpecimenCollection",
    "UnknownEntry",
]


def _node() -> Any:
    return field(default=None, compare=False, repr=False)


# Participants -------------------------------------------------------------


@dataclass(slots=True)
class Organization:
    ids: tuple[II, ...] = ()
    name: str | None = None
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()
    kind: CD | None = None  # standardIndustryClassCode (cadre d'exercice)


@dataclass(slots=True)
class Entity:
    """Someone or something acting: assignedAuthor, assignedEntity, associatedEntity…

    `person` is set for a human, `device_name` for software or a device (authoring
    device, point-of-care analyser); `organization` is the one represented.
    """

    ids: tuple[II, ...] = ()
    role: CD | None = None
    person: PersonName | None = None
    device_name: str | None = None
    device_code: CD | None = None
    organization: Organization | None = None
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()


@dataclass(slots=True)
class Participation:
    """An entity with the time it acted (author time, validation time, signature time)."""

    entity: Entity
    time: IVL_TS | None = None


@dataclass(slots=True)
class HeaderParticipant:
    type_code: str  # REF prescriber, PRF specimen collector, INF GP, AUTHEN validator…
    entity: Entity
    function: CD | None = None
    time: IVL_TS | None = None


# Header -------------------------------------------------------------------


@dataclass(slots=True)
class Patient:
    ids: tuple[II, ...]
    names: tuple[PersonName, ...] = ()
    gender: CD | None = None
    birth_time: str | None = None
    deceased_time: str | None = None
    deceased: bool | None = None
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()
    birthplace: Address | None = None
    guardians: tuple[Entity, ...] = ()


@dataclass(slots=True)
class ServiceEvent:
    ids: tuple[II, ...] = ()
    code: CD | None = None
    status: str | None = None  # lab:statusCode: completed (final) / active (partial)
    effective: IVL_TS | None = None
    performers: tuple[Participation, ...] = ()


@dataclass(slots=True)
class RelatedDocument:
    type_code: str  # RPLC replaces, APND appends, XFRM transforms
    ids: tuple[II, ...] = ()
    set_id: II | None = None
    version_number: str | None = None


@dataclass(slots=True)
class Encounter:
    ids: tuple[II, ...] = ()
    code: CD | None = None
    effective: IVL_TS | None = None
    responsible: Entity | None = None
    location_name: str | None = None
    location_code: CD | None = None
    location_address: Address | None = None


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """What was recognised: CR-BIO or BIO-TROD, the volet version, N3 or N1."""

    family: str  # "CR-BIO" | "BIO-TROD"
    version: str | None  # "2024.01", "2023.01", "2021.01" or None when not declared
    structured: bool  # N3 structuredBody, or N1 nonXMLBody
    auto_presentable: bool = False

    def __str__(self) -> str:
        level = "N3" if self.structured else "N1"
        return f"{self.family} {self.version or '(version not declared)'} {level}"


@dataclass(slots=True)
class Header:
    document_id: II
    code: CD
    kind: DocumentKind
    title: str | None = None
    effective_time: str | None = None
    confidentiality: CD | None = None
    language: str | None = None
    set_id: II | None = None
    version_number: str | None = None
    template_ids: tuple[II, ...] = ()
    patient: Patient | None = None
    authors: tuple[Participation, ...] = ()
    custodian: Organization | None = None
    legal_authenticator: Participation | None = None
    participants: tuple[HeaderParticipant, ...] = ()
    order_ids: tuple[II, ...] = ()
    service_events: tuple[ServiceEvent, ...] = ()
    related_documents: tuple[RelatedDocument, ...] = ()
    encounter: Encounter | None = None


# Body entries -------------------------------------------------------------


@dataclass(slots=True)
class Comment:
    """FR-Commentaire-ER (act, code 48767-8): free text about its container."""

    key: str
    text: str | None
    text_ref: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class Media:
    """observationMedia (FR-Image-illustrative, or the media of an attached document)."""

    key: str
    media_id: str | None
    content: ED
    node: Any = _node()


@dataclass(slots=True)
class SpecimenCollection:
    """FR-Prelevement (procedure): how, when and by whom the specimen was taken."""

    key: str
    code: CD | None = None
    effective: IVL_TS | None = None
    target_site: CD | None = None
    collector: Entity | None = None
    specimen_ids: tuple[II, ...] = ()
    specimen_type: CD | None = None
    received_time: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class ReferenceRange:
    value: IVL_PQ | Value | None
    interpretation: CD | None = None
    text: str | None = None
    node: Any = _node()


@dataclass(slots=True)
class EarlierResult:
    """An `entryRelationship[@typeCode=REFR]` observation: a previous value, for context."""

    key: str
    code: CD | None
    status: str | None = None
    effective: IVL_TS | None = None
    value: Value | None = None
    interpretations: tuple[CD, ...] = ()
    node: Any = _node()


@dataclass(slots=True)
class LabResult:
    """FR-Resultat-examens-de-biologie-element-clinique-pertinent (observation)."""

    key: str
    code: CD | None
    ids: tuple[II, ...] = ()
    status: str | None = None
    effective: IVL_TS | None = None
    value: Value | None = None
    interpretations: tuple[CD, ...] = ()
    methods: tuple[CD, ...] = ()
    reference_ranges: tuple[ReferenceRange, ...] = ()
    comments: tuple[Comment, ...] = ()
    earlier_results: tuple[EarlierResult, ...] = ()
    performers: tuple[Participation, ...] = ()
    validators: tuple[Participation, ...] = ()
    specimens: tuple[SpecimenCollection, ...] = ()
    media: tuple[Media, ...] = ()
    devices: tuple[Entity, ...] = ()
    nested: tuple[BodyEntry, ...] = ()  # statements CR-BIO does not nest in a result
    node: Any = _node()


@dataclass(slots=True)
class Battery:
    """FR-Batterie-examens-de-biologie-medicale (organizer BATTERY)."""

    key: str
    code: CD | None
    ids: tuple[II, ...] = ()
    status: str | None = None
    effective: IVL_TS | None = None
    members: tuple[BodyEntry, ...] = ()
    comments: tuple[Comment, ...] = ()
    performers: tuple[Participation, ...] = ()
    validators: tuple[Participation, ...] = ()
    specimens: tuple[SpecimenCollection, ...] = ()
    media: tuple[Media, ...] = ()
    node: Any = _node()


@dataclass(slots=True)
class Isolate:
    """FR-Isolat-microbiologique (organizer CLUSTER): an organism and its results."""

    key: str
    organism: CD | None
    isolate_ids: tuple[II, ...] = ()
    code: CD | None = None
    ids: tuple[II, ...] = ()
    status: str | None = None
    effective: IVL_TS | None = None
    members: tuple[BodyEntry, ...] = ()
    comments: tuple[Comment, ...] = ()
    performers: tuple[Participation, ...] = ()
    validators: tuple[Participation, ...] = ()
    specimens: tuple[SpecimenCollection, ...] = ()
    media: tuple[Media, ...] = ()
    node: Any = _node()


@dataclass(slots=True)
class LabReportAct:
    """FR-Resultats-examens-de-biologie-medicale (act): the results of one section entry."""

    key: str
    code: CD | None
    status: str | None = None
    members: tuple[BodyEntry, ...] = ()
    comments: tuple[Comment, ...] = ()
    performers: tuple[Participation, ...] = ()
    validators: tuple[Participation, ...] = ()
    specimens: tuple[SpecimenCollection, ...] = ()
    devices: tuple[Entity, ...] = ()
    node: Any = _node()


@dataclass(slots=True)
class AttachedDocument:
    """FR-Document-attache (organizer): a document carried inside the report (PDF…)."""

    key: str
    type: CD | None
    title: str | None
    media: Media | None
    node: Any = _node()


@dataclass(slots=True)
class UnknownEntry:
    """An entry no reader handles, or one read where it cannot mean anything (`why`):
    kept so that the mapping layer can report it."""

    key: str
    element: str
    template_ids: tuple[str, ...] = ()
    why: str | None = None
    node: Any = _node()


BodyEntry = (
    LabReportAct
    | Battery
    | Isolate
    | LabResult
    | Comment
    | Media
    | AttachedDocument
    | SpecimenCollection
    | UnknownEntry
)


# Narrative ----------------------------------------------------------------


@dataclass(slots=True)
class NarrativeElement:
    """One element of a narrative block, as written, whatever it is.

    `name` is the local name of an HL7 v3 element ("table", "content"), and the
    Clark name ("{namespace}local", "{}local" without namespace) of any other element,
    so that it never passes for a CDA one. Attributes keep their names as lxml gives them
    (Clark names for namespaced ones). Text and tails are `str` children, in order.
    The reading keeps everything: what may be shown is the mapping layer's decision.
    """

    name: str
    attributes: dict[str, str]
    children: list[NarrativeElement | str]


@dataclass(slots=True)
class Narrative:
    """A section's narrative block (`section/text`, CDA NarrativeBlock.xsd StrucDoc.Text).

    `flattened` counts the elements nested deeper than the reader's bound, kept as
    their text only. `ids` are the ID attributes met (links may point at them);
    `has_footnote_refs` tells whether any footnoteRef needs footnotes numbered first.
    """

    content: list[NarrativeElement | str]
    ids: frozenset[str] = frozenset()
    has_footnote_refs: bool = False
    flattened: int = 0
    node: Any = _node()


@dataclass(slots=True)
class Section:
    key: str
    template_ids: tuple[str, ...]
    code: CD | None = None
    title: str | None = None
    text: str | None = None  # the narrative as plain text, for comment sections
    entries: tuple[BodyEntry, ...] = ()
    sections: tuple[Section, ...] = ()
    ids: tuple[II, ...] = ()
    node: Any = _node()
    narrative: Narrative | None = None  # the narrative block, as a tree


@dataclass(slots=True)
class CdaDocument:
    """A CR-BIO or BIO-TROD document read from bytes; `source` keeps the bytes as received."""

    header: Header
    sections: tuple[Section, ...] = ()
    non_xml_body: ED | None = None
    source: bytes = field(default=b"", repr=False)
    node: Any = _node()
