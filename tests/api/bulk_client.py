"""A FHIR Bulk Data v2 client that follows the specification step by step, checking each
answer against it (http://hl7.org/fhir/uv/bulkdata/export.html).

kick-off (202, Content-Location) → status polls (202 with X-Progress, waiting as long
as Retry-After says) → complete status (200, application/json manifest) → each output
file (200, application/fhir+ndjson, one resource of the declared type per line, as many
as `count`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from bridge.store.indexing import date_range

ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


@dataclass
class Export:
    manifest: dict[str, Any]
    resources: dict[str, list[dict[str, Any]]]  # output resources by type, in file order
    deleted: list[dict[str, Any]] = field(default_factory=list)  # the deletion Bundles
    errors: list[dict[str, Any]] = field(default_factory=list)  # OperationOutcomes
    polls: list[httpx.Response] = field(default_factory=list)  # the 202 answers

    def ids(self, resource_type: str) -> set[str]:
        return {r["id"] for r in self.resources.get(resource_type, [])}

    def all(self) -> list[dict[str, Any]]:
        return [r for rs in self.resources.values() for r in rs]


class BulkClient:
    def __init__(self, http: httpx.Client, token: str | None = None) -> None:
        self.http = http  # base_url: the FHIR base
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def kick_off(
        self,
        path: str = "/$export",
        params: dict[str, str] | None = None,
        *,
        parameters: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """The status URL of a new export (GET with `params`, POST with `parameters`)."""
        sent = {**ASYNC, **self.auth, **(headers or {})}
        if parameters is None:
            response = self.http.get(path, params=params, headers=sent)
        else:
            sent["Content-Type"] = "application/fhir+json"
            response = self.http.post(path, json=parameters, headers=sent)
        assert response.status_code == 202, response.text
        location = response.headers["Content-Location"]
        assert location.startswith("http"), "Content-Location is an absolute URL"
        return location

    def poll(
        self, status_url: str, *, timeout: float = 60
    ) -> tuple[dict[str, Any], list[httpx.Response]]:
        """Poll until complete, as Retry-After asks; the manifest and the 202 answers."""
        waiting: list[httpx.Response] = []
        deadline = time.monotonic() + timeout
        time.sleep(0.1)  # the first step of the client's backoff; then Retry-After rules
        while True:
            response = self.http.get(
                status_url, headers={"Accept": "application/json", **self.auth}
            )
            if response.status_code != 202:
                break
            waiting.append(response)
            progress = response.headers.get("X-Progress", "")
            assert progress and len(progress) < 100, "X-Progress: a short text"
            delay = int(response.headers["Retry-After"])  # delay-seconds
            assert 0 < delay <= 120
            assert time.monotonic() + delay < deadline, "the export took too long"
            time.sleep(delay)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers.get("Expires"), "the server says until when files stay"
        manifest = response.json()
        check_manifest(manifest)
        return manifest, waiting

    def download(self, item: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
        """One output file's resources, each checked against the item that lists it."""
        headers = {"Accept": "application/fhir+ndjson"}
        if manifest["requiresAccessToken"]:
            headers.update(self.auth)
        with self.http.stream("GET", item["url"], headers=headers) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"] == "application/fhir+ndjson"
            lines = list(response.iter_lines())
        resources = []
        for line in lines:
            assert line, "NDJSON has no empty line"
            resource = json.loads(line, parse_float=Decimal)
            assert resource["resourceType"] == item["type"], (resource["resourceType"], item)
            resources.append(resource)
        assert len(resources) == item["count"]
        return resources

    def export(
        self, path: str = "/$export", params: dict[str, str] | None = None, **kw: Any
    ) -> Export:
        """The whole flow: kick-off, polls, manifest, every file."""
        manifest, polls = self.poll(self.kick_off(path, params, **kw))
        found = Export(manifest, {}, polls=polls)
        for item in manifest["output"]:
            found.resources.setdefault(item["type"], []).extend(self.download(item, manifest))
        for item in manifest.get("deleted", []):
            assert item["type"] == "Bundle"
            found.deleted += self.download(item, manifest)
        for item in manifest["error"]:
            assert item["type"] == "OperationOutcome"
            found.errors += self.download(item, manifest)
        return found

    def delete(self, status_url: str) -> httpx.Response:
        return self.http.delete(
            status_url, headers={"Accept": "application/fhir+json", **self.auth}
        )


def check_manifest(manifest: dict[str, Any]) -> None:
    """The complete-status body: its required fields, with their types."""
    assert set(manifest) >= {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    instant = manifest["transactionTime"]
    assert "T" in instant and (instant.endswith("Z") or "+" in instant[10:]), instant
    assert date_range(instant) is not None
    assert isinstance(manifest["request"], str) and "$export" in manifest["request"]
    assert isinstance(manifest["requiresAccessToken"], bool)
    for section in ("output", "deleted", "error"):
        for item in manifest.get(section, []):
            assert set(item) >= {"type", "url"} and item["url"].startswith("http")
            assert isinstance(item.get("count", 0), int)
    assert all(item["count"] > 0 for item in manifest["output"]), "no output item for no data"
