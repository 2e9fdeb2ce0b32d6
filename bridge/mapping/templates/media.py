"""observationMedia (FR-Image-illustrative) → Media, listed in DiagnosticReport.media.

source: observationMedia, templateIds 2.16.840.1.113883.10.12.304 + 1.2.250.1.213.1.1.3.103
target: Media (R4), DiagnosticReport.media.link; Media.partOf the Observation it illustrates

An electrophoresis trace, for instance: a key image of the report.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.model import Media
from bridge.mapping.attachments import attachment
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.registry import maps

__all__ = ["map_media"]

IMAGE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/media-type",
            "code": "image",
            "display": "Image",
        }
    ]
}


def map_media(media: Media, part_of: dict[str, str] | None, ctx: MappingContext) -> None:
    content = attachment(media.content, ctx)
    if content is None:
        return
    resource: dict[str, Any] = {
        "resourceType": "Media",
        "id": ctx.local_id("Media", media.key),
    }
    if ctx.based_on:
        resource["basedOn"] = list(ctx.based_on)
    if part_of:
        resource["partOf"] = [part_of]
    resource["status"] = "completed"
    if content["contentType"].startswith("image/"):
        resource["type"] = IMAGE
    resource["subject"] = ctx.subject
    if ctx.encounter:
        resource["encounter"] = ctx.encounter
    resource["content"] = content
    ref = ctx.add(resource)
    ctx.media.append({"link": ref})


@maps(Media)
def map_media_entry(media: Media, scope: Scope, ctx: MappingContext) -> list[dict[str, str]]:
    """An image written directly under an act or a section: illustrates the whole report."""
    map_media(media, None, ctx)
    return []
