"""FR-Batterie-examens-de-biologie-medicale → Observation with hasMember.

source: organizer[@classCode=BATTERY], templateIds 1.3.6.1.4.1.19376.1.3.1.4 +
        1.2.250.1.213.1.1.3.78
target: Observation (a panel: code, hasMember → its results and nested batteries)

The nesting depth of the CDA is kept: a battery inside a battery stays a member.
"""

from __future__ import annotations

from bridge.cda.model import Battery
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.registry import map_entries, maps
from bridge.mapping.templates.lab_observation import result_code
from bridge.mapping.templates.media import map_media
from bridge.mapping.templates.observation_parts import (
    base_observation,
    narrow_scope,
    notes,
    observation_status,
)
from bridge.mapping.templates.specimen import specimen_reference

__all__ = ["map_battery"]


@maps(Battery)
def map_battery(battery: Battery, scope: Scope, ctx: MappingContext) -> list[dict[str, str]]:
    specimens = tuple(specimen_reference(s, ctx) for s in battery.specimens)
    scope = narrow_scope(
        scope,
        battery.performers,
        battery.validators,
        battery.key,
        ctx,
        time=battery.effective,
        collections=battery.specimens,
        **({"specimens": specimens} if specimens else {}),
    )
    status = observation_status(battery.status, battery.node, ctx)
    if battery.status == "active":
        status = "preliminary"  # a panel still in progress already holds some results
    obs = base_observation(
        ctx.local_id("Observation", battery.key),
        battery.ids,
        status,
        result_code(battery, ctx, compared=False),
        battery.effective,
        battery.node,
        scope,
        ctx,
        time_in_scope=True,
    )
    # Observation.note: comments written as components of the battery
    note = notes(battery.comments, ctx)
    if note:
        obs["note"] = note
    if scope.specimens:
        obs["specimen"] = scope.specimens[0]
    # Observation.hasMember: results and nested batteries, in document order
    members = map_entries(battery.members, scope, ctx)
    if members:
        obs["hasMember"] = members
    ref = ctx.add(obs)
    for media in battery.media:
        map_media(media, ref, ctx)
    return [ref]
