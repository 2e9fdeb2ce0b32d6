"""Reader for the CDA header: document identity and kind, patient, participants, context."""

from __future__ import annotations

from lxml import etree

from bridge.cda import templates
from bridge.cda.model import (
    DocumentKind,
    Encounter,
    Header,
    HeaderParticipant,
    Patient,
    RelatedDocument,
    ServiceEvent,
)
from bridge.cda.reading.participants import read_entity, read_organization, read_participation
from bridge.cda.reading.values import (
    read_address,
    read_addresses,
    read_cd,
    read_ids,
    read_ii,
    read_name,
    read_telecoms,
    read_time,
)
from bridge.cda.reading.xml import (
    LAB_NS,
    NONE,
    SDTC_NS,
    Kids,
    NarrativeIndex,
    child,
    collapsed,
    kids,
    one,
    plain_text,
    trimmed,
)
from bridge.errors import UnsupportedDocumentError

__all__ = ["read_header", "recognise_kind"]

LOINC_OID = "2.16.840.1.113883.6.1"
_DOCUMENT_CODES = {templates.CR_BIO_CODE: "CR-BIO", templates.BIO_TROD_CODE: "BIO-TROD"}


def recognise_kind(k: Kids, *, auto_presentable: bool) -> DocumentKind:
    """Say what the document is (from the ClinicalDocument's children), or refuse it."""
    code_el = one(k, "code")
    code = collapsed(code_el.get("code")) if code_el is not None else None
    system = trimmed(code_el.get("codeSystem")) if code_el is not None else None
    if code not in _DOCUMENT_CODES or system != LOINC_OID:
        found = f"{code} (code system {system})" if code else "no document code"
        raise UnsupportedDocumentError(
            f"document code is {found}: only CR-BIO (LOINC 11502-2) and "
            "BIO-TROD (LOINC 96173-0) reports are accepted"
        )
    ids: dict[str, str | None] = {}  # root → extension, for the templateIds that have a root
    rootless = 0
    for template in k.get("templateId", NONE):
        root = trimmed(template.get("root"))
        if root is None:
            rootless += 1
        else:
            ids[root] = trimmed(template.get("extension"))
    body = kids(one(k, "component"))
    structured = "structuredBody" in body
    if not structured and "nonXMLBody" not in body:
        raise UnsupportedDocumentError("the document has neither a structuredBody nor a nonXMLBody")
    if templates.CR_BIO in ids:
        return DocumentKind("CR-BIO", ids[templates.CR_BIO], structured, auto_presentable)
    if templates.BIO_TROD in ids:
        return DocumentKind("BIO-TROD", ids[templates.BIO_TROD], structured, auto_presentable)
    if templates.CI_SIS in ids and (templates.IHE_XDS_SD in ids or templates.IHE_XD_LAB in ids):
        return DocumentKind(_DOCUMENT_CODES[code], None, structured, auto_presentable)
    found = sorted(ids)
    if rootless:
        found.append(f"{rootless} templateId without root")
    raise UnsupportedDocumentError(
        f"document code {code} but no CR-BIO ({templates.CR_BIO}), BIO-TROD "
        f"({templates.BIO_TROD}) or CI-SIS templateId; found: {', '.join(found) or 'none'}"
    )


def _value(el: etree._Element | None) -> str | None:
    return trimmed(el.get("value")) if el is not None else None


def _read_patient(k: Kids, narrative: NarrativeIndex) -> Patient | None:
    role = child(one(k, "recordTarget"), "patientRole")
    if role is None:
        return None
    rk = kids(role)
    pk = kids(one(rk, "patient"))
    place = child(one(pk, "birthplace"), "place")
    deceased = one(pk, SDTC_NS + "deceasedInd")
    return Patient(
        ids=read_ids(rk.get("id")),
        names=tuple(n for n in map(read_name, pk.get("name", NONE)) if n),
        gender=read_cd(one(pk, "administrativeGenderCode"), narrative),
        birth_time=_value(one(pk, "birthTime")),
        deceased=None if deceased is None else deceased.get("value") == "true",
        deceased_time=_value(one(pk, SDTC_NS + "deceasedTime")),
        addresses=read_addresses(rk.get("addr")),
        telecoms=read_telecoms(rk.get("telecom")),
        birthplace=read_address(child(place, "addr")),
        guardians=tuple(
            g for g in (read_entity(el, narrative) for el in pk.get("guardian", NONE)) if g
        ),
    )


def _read_participants(k: Kids, narrative: NarrativeIndex) -> list[HeaderParticipant]:
    found = []
    for el in k.get("participant", NONE):
        pk = kids(el)
        entity = read_entity(one(pk, "associatedEntity"), narrative)
        if entity is not None:
            found.append(
                HeaderParticipant(
                    type_code=el.get("typeCode") or "",
                    entity=entity,
                    function=read_cd(one(pk, "functionCode"), narrative),
                    time=read_time(one(pk, "time")),
                )
            )
    for el in k.get("authenticator", NONE):
        participation = read_participation(el, narrative)
        if participation is not None:
            found.append(
                HeaderParticipant("AUTHEN", participation.entity, None, participation.time)
            )
    return found


def _read_service_events(k: Kids, narrative: NarrativeIndex) -> list[ServiceEvent]:
    events = []
    for doc_of in k.get("documentationOf", NONE):
        event = child(doc_of, "serviceEvent")
        if event is None:
            continue
        ek = kids(event)
        status = one(ek, LAB_NS + "statusCode")
        if status is None:
            status = one(ek, "statusCode")
        performers = (read_participation(p, narrative) for p in ek.get("performer", NONE))
        events.append(
            ServiceEvent(
                ids=read_ids(ek.get("id")),
                code=read_cd(one(ek, "code"), narrative),
                status=status.get("code") if status is not None else None,
                effective=read_time(one(ek, "effectiveTime")),
                performers=tuple(p for p in performers if p),
            )
        )
    return events


def _read_related(k: Kids) -> list[RelatedDocument]:
    related = []
    for el in k.get("relatedDocument", NONE):
        parent = kids(child(el, "parentDocument"))
        set_id = one(parent, "setId")
        related.append(
            RelatedDocument(
                type_code=el.get("typeCode") or "",
                ids=read_ids(parent.get("id")),
                set_id=read_ii(set_id) if set_id is not None else None,
                version_number=_value(one(parent, "versionNumber")),
            )
        )
    return related


def _read_encounter(k: Kids, narrative: NarrativeIndex) -> Encounter | None:
    encounter = child(one(k, "componentOf"), "encompassingEncounter")
    if encounter is None:
        return None
    ek = kids(encounter)
    facility = kids(child(one(ek, "location"), "healthCareFacility"))
    place = kids(one(facility, "location"))
    responsible = child(one(ek, "responsibleParty"), "assignedEntity")
    return Encounter(
        ids=read_ids(ek.get("id")),
        code=read_cd(one(ek, "code"), narrative),
        effective=read_time(one(ek, "effectiveTime")),
        responsible=read_entity(responsible, narrative),
        location_name=plain_text(one(place, "name")),
        location_code=read_cd(one(facility, "code"), narrative),
        location_address=read_address(one(place, "addr")),
    )


def read_header(k: Kids, kind: DocumentKind, narrative: NarrativeIndex) -> Header:
    """The header, from the ClinicalDocument's children (as grouped by `kids()`)."""
    doc_id = one(k, "id")
    set_id = one(k, "setId")
    legal = one(k, "legalAuthenticator")
    custodian = child(
        child(one(k, "custodian"), "assignedCustodian"), "representedCustodianOrganization"
    )
    language = one(k, "languageCode")
    authors = (read_participation(a, narrative) for a in k.get("author", NONE))
    return Header(
        document_id=read_ii(doc_id) if doc_id is not None else read_ii(etree.Element("id")),
        code=read_cd(one(k, "code"), narrative),  # type: ignore[arg-type]
        kind=kind,
        title=plain_text(one(k, "title")),
        effective_time=_value(one(k, "effectiveTime")),
        confidentiality=read_cd(one(k, "confidentialityCode"), narrative),
        language=collapsed(language.get("code")) if language is not None else None,
        set_id=read_ii(set_id) if set_id is not None else None,
        version_number=_value(one(k, "versionNumber")),
        template_ids=tuple(read_ii(t) for t in k.get("templateId", NONE)),
        patient=_read_patient(k, narrative),
        authors=tuple(a for a in authors if a),
        custodian=read_organization(custodian, narrative),
        legal_authenticator=read_participation(legal, narrative) if legal is not None else None,
        participants=tuple(_read_participants(k, narrative)),
        order_ids=tuple(
            read_ii(i)
            for f in k.get("inFulfillmentOf", NONE)
            for i in kids(child(f, "order")).get("id", NONE)
        ),
        service_events=tuple(_read_service_events(k, narrative)),
        related_documents=tuple(_read_related(k)),
        encounter=_read_encounter(k, narrative),
    )
