"""People, devices and organisations → Practitioner, PractitionerRole, Organization, Device.

source: CDA assignedAuthor / assignedEntity / associatedEntity / participantRole
target: Practitioner, PractitionerRole, Organization (FR Core identifiers), Device

Ids follow identity: a practitioner is the same resource in every document that
gives the same IDNPS (RPPS), an organisation the same for the same IDNST. Without
an identifier, the resource is scoped to the document and the place it was met.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.model import Entity, Organization
from bridge.mapping.context import MappingContext
from bridge.mapping.datatypes import address, codeable_concept, human_names, identifier, telecoms
from bridge.mapping.ids import stable_id

__all__ = ["device", "entity_references", "organization", "responsible_party"]


def _identity(resource_type: str, identifiers: list[dict[str, Any]]) -> str | None:
    for ident in identifiers:
        if ident.get("value"):
            return stable_id(resource_type, ident["system"], ident["value"])
    return None


def organization(org: Organization | None, ctx: MappingContext, key: str) -> dict[str, str] | None:
    """representedOrganization & co → Organization."""
    if org is None:
        return None
    identifiers = [i for i in map(identifier, org.ids) if i]
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": _identity("Organization", identifiers)
        or ctx.local_id("Organization", f"{key}|{org.name or ''}"),
    }
    # Organization.identifier
    if identifiers:
        resource["identifier"] = identifiers
    # Organization.type: cadre d'exercice (standardIndustryClassCode)
    kind = codeable_concept(org.kind, ctx)
    if kind:
        resource["type"] = [kind]
    if org.name:
        resource["name"] = org.name
    if contact_points := telecoms(org.telecoms):
        resource["telecom"] = contact_points
    if org.addresses:
        resource["address"] = [address(a) for a in org.addresses]
    ref = ctx.add(resource)
    if org.name:
        ref["display"] = org.name
    return ref


def _practitioner(
    entity: Entity, contact_points: list[dict[str, Any]], ctx: MappingContext, key: str
) -> dict[str, str]:
    identifiers = [i for i in map(identifier, entity.ids) if i]
    names = human_names(entity.person)
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": _identity("Practitioner", identifiers) or ctx.local_id("Practitioner", key),
    }
    if identifiers:
        resource["identifier"] = identifiers
    if names:
        resource["name"] = names
    if contact_points:
        resource["telecom"] = contact_points
    if entity.addresses:
        resource["address"] = [address(a) for a in entity.addresses]
    ref = ctx.add(resource)
    display = _display(names)
    if display:
        ref["display"] = display
    return ref


def _display(names: list[dict[str, Any]]) -> str | None:
    if not names:
        return None
    name = names[0]
    parts = [*name.get("given", ()), name.get("family", "")]
    return " ".join(p for p in parts if p) or name.get("text")


def _role(
    entity: Entity,
    practitioner: dict[str, str],
    org: dict[str, str] | None,
    contact_points: list[dict[str, Any]],
    ctx: MappingContext,
) -> dict[str, str]:
    role = codeable_concept(entity.role, ctx)
    role_code = role["coding"][0]["code"] if role and "coding" in role else ""
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": stable_id(
            "PractitionerRole",
            practitioner["reference"],
            org["reference"] if org else "",
            role_code,
        ),
        "practitioner": practitioner,
    }
    if org:
        resource["organization"] = org
    # PractitionerRole.code: profession / speciality (TRE_G15 / TRE_R38 composite code)
    if role:
        resource["code"] = [role]
    if contact_points:
        resource["telecom"] = contact_points
    ref = ctx.add(resource)
    if practitioner.get("display"):
        ref["display"] = practitioner["display"]
    return ref


def _is_person(entity: Entity) -> bool:
    """A named person, or an assigned entity identified without name (an RPPS alone)."""
    is_device = entity.device_name is not None or entity.device_code is not None
    return entity.person is not None or (bool(entity.ids) and not is_device)


def entity_references(entity: Entity | None, ctx: MappingContext, key: str) -> list[dict[str, str]]:
    """References for a performer: the PractitionerRole (when a person acts), the Organization."""
    if entity is None:
        return []
    org = organization(entity.organization, ctx, f"{key}/org")
    refs = []
    if _is_person(entity):
        contact_points = telecoms(entity.telecoms)  # the person's, on both resources
        practitioner = _practitioner(entity, contact_points, ctx, key)
        refs.append(_role(entity, practitioner, org, contact_points, ctx))
    if org:
        refs.append(org)
    return refs


def responsible_party(
    entity: Entity | None, ctx: MappingContext, key: str
) -> dict[str, str] | None:
    """One reference for a single-valued actor: the PractitionerRole, else the Organization."""
    refs = entity_references(entity, ctx, key)
    return refs[0] if refs else None


def device(entity: Entity | None, ctx: MappingContext, key: str) -> dict[str, str] | None:
    """assignedAuthoringDevice / playingDevice → Device (lab software, point-of-care analyser)."""
    if entity is None or (entity.device_name is None and entity.device_code is None):
        return None
    identifiers = [i for i in map(identifier, entity.ids) if i]
    owner = organization(entity.organization, ctx, f"{key}/org")
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": _identity("Device", identifiers) or ctx.local_id("Device", key),
    }
    if identifiers:
        resource["identifier"] = identifiers
    if entity.device_name:
        resource["deviceName"] = [{"name": entity.device_name, "type": "model-name"}]
    kind = codeable_concept(entity.device_code, ctx)
    if kind:
        resource["type"] = kind
    if owner:
        resource["owner"] = owner
    ref = ctx.add(resource)
    if entity.device_name:
        ref["display"] = entity.device_name
    return ref
