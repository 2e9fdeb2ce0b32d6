"""Readers for people, devices and organisations: authors, performers, participants."""

from __future__ import annotations

from lxml import etree

from bridge.cda.model import Entity, Organization, Participation
from bridge.cda.reading.values import (
    read_addresses,
    read_cd,
    read_ids,
    read_name,
    read_telecoms,
    read_time,
)
from bridge.cda.reading.xml import Kids, NarrativeIndex, child, kids, one, plain_text

__all__ = ["read_entity", "read_organization", "read_participation"]

_PERSON_TAGS = ("assignedPerson", "associatedPerson", "guardianPerson", "playingEntity")
_ORGANIZATION_TAGS = (
    "representedOrganization",
    "scopingOrganization",
    "representedCustodianOrganization",
    "guardianOrganization",
    "serviceProviderOrganization",
)
_DEVICE_TAGS = ("assignedAuthoringDevice", "playingDevice")
_ENTITY_TAGS = ("assignedEntity", "assignedAuthor", "associatedEntity", "participantRole")


def read_organization(el: etree._Element | None, narrative: NarrativeIndex) -> Organization | None:
    if el is None:
        return None
    k = kids(el)
    ids = read_ids(k.get("id"))
    name = plain_text(one(k, "name"))
    telecoms = read_telecoms(k.get("telecom"))
    addresses = read_addresses(k.get("addr"))
    kind = read_cd(one(k, "standardIndustryClassCode"), narrative)
    if not (ids or name or telecoms or addresses or kind):
        return None  # an organization with nothing in it is no organization
    return Organization(ids=ids, name=name, telecoms=telecoms, addresses=addresses, kind=kind)


def _first_of(k: Kids, names: tuple[str, ...]) -> etree._Element | None:
    for name in names:
        group = k.get(name)
        if group:
            return group[0]
    return None


def read_entity(el: etree._Element | None, narrative: NarrativeIndex) -> Entity | None:
    """assignedAuthor, assignedEntity, associatedEntity, participantRole, guardian…"""
    if el is None:
        return None
    k = kids(el)
    person_el = _first_of(k, _PERSON_TAGS)
    person = read_name(child(person_el, "name"))
    device_name = device_code = None
    device = _first_of(k, _DEVICE_TAGS)
    if device is not None:
        dk = kids(device)
        names = [
            text
            for name in ("manufacturerModelName", "softwareName")
            if (text := plain_text(one(dk, name)))
        ]
        device_code = read_cd(one(dk, "code"), narrative)
        device_name = " ".join(names) or (
            (device_code.original_text or device_code.display_name) if device_code else None
        )
    return Entity(
        ids=read_ids(k.get("id")),
        role=read_cd(one(k, "code"), narrative),
        person=person,
        device_name=device_name,
        device_code=device_code,
        organization=read_organization(_first_of(k, _ORGANIZATION_TAGS), narrative),
        telecoms=read_telecoms(k.get("telecom")),
        addresses=read_addresses(k.get("addr")),
    )


def read_participation(el: etree._Element, narrative: NarrativeIndex) -> Participation | None:
    """performer, author, legalAuthenticator, participant: the entity and its time."""
    k = kids(el)
    holder = _first_of(k, _ENTITY_TAGS)
    entity = read_entity(holder, narrative)
    if entity is None:
        return None
    return Participation(entity=entity, time=read_time(one(k, "time")))
