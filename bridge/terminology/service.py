"""The terminology service: the local JDV first, then cached SMT answers, then the SMT.

- `$translate` on LOINC is answered from the JDV ConceptMap held in memory (the seed,
  or the latest imported version, or the one asked for). A miss goes to the cache of
  SMT answers, then to the SMT; its answer is cached with a TTL.
- With the SMT down, a cached answer is served even when its TTL has passed (a stale
  answer beats none); without one, `TerminologyUnavailable` says why.
- `$lookup` of a LOINC code of the JDV answers with its French labels and JDV
  properties; other codes go to the cache, then the SMT.
- `sync()` pulls the value sets the converter uses with `$expand` paging, so that
  French displays are known offline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from bridge.errors import ConceptMapNotFound, TerminologyUnavailable
from bridge.terminology.conceptmap import (
    CODESYSTEM_URL,
    CONCEPTMAP_URL,
    LOINC,
    JdvIndex,
    Match,
    build_codesystem,
    build_conceptmap,
)
from bridge.terminology.jdv import (
    COMPARABILITY_MEANING,
    JdvRow,
    merge_rows,
    read_spreadsheet,
    seed_rows,
)
from bridge.terminology.operations import (
    LookupRequest,
    TranslateRequest,
    lookup_parameters,
    matches_from_parameters,
    translate_parameters,
)
from bridge.terminology.smt import SmtClient
from bridge.terminology.store import TerminologyStore

__all__ = [
    "SEED_VERSION",
    "SYNCED_VALUE_SETS",
    "ImportReport",
    "TerminologyService",
    "from_settings",
]

SEED_VERSION = "seed"
SYNCED_VALUE_SETS = (
    "https://smt.esante.gouv.fr/fhir/ValueSet/jdv-technique-biologie-cisis",
    "https://smt.esante.gouv.fr/fhir/ValueSet/jdv-hl7-v3-ObservationInterpretation-cisis",
)
Origin = Literal["local", "cache", "smt", "stale-cache"]


@dataclass(frozen=True, slots=True)
class ImportReport:
    version: str
    rows: int
    analyses: int
    correspondences: int
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """An operation's Parameters and where they came from."""

    parameters: dict[str, Any]
    origin: Origin
    local_matches: tuple[Match, ...] | None = None

    @property
    def matches(self) -> list[Match]:
        """The $translate matches, whatever answered (the JDV, the cache or the SMT)."""
        if self.local_matches is not None:
            return list(self.local_matches)
        return matches_from_parameters(self.parameters)


DISPLAYS_REFRESH = 300.0  # seconds
JDV_REFRESH = 1.0  # seconds between two checks of the JDV versions in the store


class TerminologyService:
    def __init__(
        self, store: TerminologyStore, smt: SmtClient | None = None, *, ttl: float = 24 * 3600
    ) -> None:
        self.store = store
        self.smt = smt
        self.ttl = ttl
        self._indexes: dict[str | None, JdvIndex] = {}  # JDV versions
        self._stamps: list[tuple[str, float]] | None = None  # the versions the indexes saw
        self._checked = 0.0  # when the store was last asked (time.monotonic)
        self.jdv_refresh = JDV_REFRESH
        self._written_maps: dict[str, JdvIndex] = {}  # ConceptMaps written through the API
        self._displays: tuple[float, dict[tuple[str, str], str]] | None = None  # (read at, …)

    # The JDV ----------------------------------------------------------------

    def jdv(self, version: str | None = None) -> JdvIndex:
        """The JDV index of a version; None: the current one, the newest by its declared
        version (`bridge.terminology.store.version_order`), the seed when none is imported.

        Indexes are kept in memory. At most every `jdv_refresh` seconds one small query
        checks the versions in the store, so a version imported meanwhile (by `crbio
        terminology import-jdv` in another process, on the same database) is used
        without a restart.
        """
        self._check_versions()
        index = self._indexes.get(version)
        if index is None:
            stamps = self._stamps or []
            if version is None:
                if not stamps:
                    self.save_rows(seed_rows(), SEED_VERSION)
                    stamps = self._stamps or []
                resolved = stamps[-1][0] if stamps else SEED_VERSION
            elif version == SEED_VERSION and all(v != SEED_VERSION for v, _ in stamps):
                self.save_rows(seed_rows(), SEED_VERSION)
                resolved = SEED_VERSION
            else:
                resolved = version
            conceptmap = self.store.get_resource("ConceptMap", CONCEPTMAP_URL, resolved)
            if conceptmap is None:
                raise ConceptMapNotFound(
                    f"JDV Circuit de la biologie version {version!r} is not imported; "
                    f"known: {', '.join(self.versions()) or 'none'}"
                )
            codesystem = self.store.get_resource("CodeSystem", CODESYSTEM_URL, resolved)
            index = JdvIndex(conceptmap, codesystem)
            self._indexes[version] = self._indexes[resolved] = index
        return index

    def _check_versions(self, *, force: bool = False) -> None:
        """Forget the indexes when the versions in the store changed (one indexed query)."""
        now = time.monotonic()
        if not force and self._stamps is not None and now - self._checked < self.jdv_refresh:
            return
        stamps = self.store.versions("ConceptMap", CONCEPTMAP_URL)
        if stamps != self._stamps:
            self._indexes.clear()
            self._stamps = stamps
        self._checked = now

    def versions(self) -> list[str]:
        """The JDV versions in the store, oldest first: the last one is the current one."""
        return [version for version, _ in self.store.versions("ConceptMap", CONCEPTMAP_URL)]

    def publish_versions(self) -> None:
        """Make every stored JDV version readable over REST (stores imported before the
        JDV was published, or by a store without FHIR resources)."""
        for version in self.versions():
            for kind, url in (("ConceptMap", CONCEPTMAP_URL), ("CodeSystem", CODESYSTEM_URL)):
                resource = self.store.get_resource(kind, url, version)
                if resource is not None:
                    self.store.publish_resource(resource)

    def save_rows(self, rows: list[JdvRow], version: str) -> ImportReport:
        merged, problems = merge_rows(rows)
        conceptmap = build_conceptmap(merged, version)
        codesystem = build_codesystem(merged, version)
        for resource in (conceptmap, codesystem):
            self.store.put_resource(resource)
            self.store.publish_resource(resource)  # readable and searchable over REST
        self._check_versions(force=True)  # the current version may have changed
        return ImportReport(
            version, len(rows), len(merged), len(conceptmap["group"][0]["element"]), tuple(problems)
        )

    def import_spreadsheet(self, path: Path, version: str) -> ImportReport:
        """Import an official JDV workbook as a new version; earlier versions stay."""
        return self.save_rows(read_spreadsheet(path), version)

    def correspondence(self, code: str, unit: str) -> dict[str, str] | None:
        """The converter's question: the LOINC of `code`'s value expressed in `unit`."""
        return self.jdv().correspondence_coding(code, unit)

    # $translate ---------------------------------------------------------------

    def _other_map(self, url: str, version: str | None) -> JdvIndex | None:
        """The index of a ConceptMap written through the API, as it is now.

        The store is asked on every call (one indexed query), so that an update or a
        delete, made here or by another server on the same database, takes effect at
        once; the index is rebuilt only when the stored version changes.
        """
        written = self.store.written_conceptmap(url, version)
        if written is None:
            return None
        key = f"{url}|{version or ''}|{written.id}|{written.version_id}"
        index = self._written_maps.get(key)
        if index is None:
            if len(self._written_maps) >= 64:  # superseded versions are never asked again
                self._written_maps.clear()
            index = self._written_maps[key] = JdvIndex(written.resource())
        return index

    def translate_local(self, request: TranslateRequest) -> list[Match] | None:
        """The JDV's answer (or a stored ConceptMap's), or None when the SMT should answer."""
        if request.url not in (None, CONCEPTMAP_URL):
            other = self._other_map(request.url, request.conceptmap_version)
            if other is None:
                return None
            return [
                m
                for system, code in request.codings
                for m in other.translate(
                    system or "", code, reverse=request.reverse, target_system=request.target_system
                )
            ]
        index = self.jdv(request.conceptmap_version if request.url else None)
        matches: list[Match] = []
        known = False
        for system, code in request.codings:
            if system != LOINC:
                return None
            known = known or index.concept(code) is not None
            matches.extend(
                index.translate(
                    system, code, reverse=request.reverse, target_system=request.target_system
                )
            )
        return matches if matches or known else None  # a JDV analysis without correspondence

    async def translate(self, request: TranslateRequest) -> Answer:
        if request.url in (None, CONCEPTMAP_URL):
            local = self.translate_local(request)  # the JDV index is in memory
        else:  # a written ConceptMap is looked up in the store: off the event loop
            local = await asyncio.to_thread(self.translate_local, request)
        if local is None and request.url == CONCEPTMAP_URL:
            local = []  # the JDV was named: it alone answers, never the SMT
        if local is not None:
            message = None if local else self._no_correspondence(request)
            return Answer(
                translate_parameters(local, r5=request.r5, message=message), "local", tuple(local)
            )
        return await self._remote("translate", request.params)

    def _no_correspondence(self, request: TranslateRequest) -> str:
        """Why the JDV gives no match, with what it knows of the codes (their level)."""
        if request.url not in (None, CONCEPTMAP_URL):
            return f"no match in {request.url}"
        index = self.jdv(request.conceptmap_version if request.url else None)
        where = f"the JDV Circuit de la biologie (version {index.version})"
        said = []
        for system, code in request.codings:
            concept = index.concept(code) if system == LOINC else None
            if concept is None:
                said.append(f"{code} is not in {where}")
                continue
            level = concept.comparability
            meaning = COMPARABILITY_MEANING.get(level or "", "not given")
            relation = (
                "is the correspondence of no analysis"
                if request.reverse
                else ("has no correspondence")
            )
            said.append(
                f"{code} {relation} in {where}; its comparability level is "
                f"{level or 'not given'} ({meaning})"
            )
        return "; ".join(said) or f"no correspondence in {where}"

    # $lookup ------------------------------------------------------------------

    async def lookup(self, request: LookupRequest) -> Answer:
        if request.system == LOINC:
            index = self.jdv()
            concept = index.concept(request.code)
            if concept is not None:
                return Answer(
                    lookup_parameters(
                        concept, version=index.version, properties=request.properties
                    ),
                    "local",
                )
        return await self._remote("lookup", request.params)

    # SMT and its cache ---------------------------------------------------------

    async def _remote(self, operation: str, params: tuple[tuple[str, str], ...]) -> Answer:
        key = f"{operation}?" + orjson.dumps(sorted(params)).decode()
        cached = await asyncio.to_thread(self.store.cache_get, key)  # the store may block
        if cached is not None and cached[1] > time.time():
            return Answer(cached[0], "cache")
        if self.smt is None:
            if cached is not None:
                return Answer(cached[0], "stale-cache")
            raise TerminologyUnavailable(
                f"not in the local JDV and no SMT configured for ${operation}"
            )
        try:
            call = self.smt.translate if operation == "translate" else self.smt.lookup
            answer = await call(list(params))
        except TerminologyUnavailable:
            if cached is not None:
                return Answer(cached[0], "stale-cache")
            raise
        await asyncio.to_thread(self.store.cache_put, key, answer, time.time() + self.ttl)
        return Answer(answer, "smt")

    async def sync(
        self, urls: tuple[str, ...] = SYNCED_VALUE_SETS, *, page: int = 1000
    ) -> dict[str, int]:
        """Expand each value set on the SMT, page by page, and keep the expansion."""
        if self.smt is None:
            raise TerminologyUnavailable("no SMT configured: nothing to synchronise from")
        counts = {}
        for url in urls:
            contains: list[dict[str, Any]] = []
            total: int | None = None
            expansion: dict[str, Any] = {}
            while total is None or len(contains) < total:
                try:
                    value_set = await self.smt.expand(url, offset=len(contains), count=page)
                except TerminologyUnavailable as exc:
                    raise TerminologyUnavailable(f"value set {url}: {exc}") from exc
                expansion = value_set.get("expansion", {})
                batch = expansion.get("contains", [])
                contains.extend(batch)
                total = expansion.get("total", len(contains))
                if not batch:
                    break
            self.store.put_resource(
                {
                    "resourceType": "ValueSet",
                    "url": url,
                    "version": value_set.get("version") or "expansion",
                    "status": value_set.get("status", "active"),
                    "expansion": {
                        **{k: v for k, v in expansion.items() if k != "contains"},
                        "total": len(contains),
                        "offset": 0,
                        "contains": contains,
                    },
                }
            )
            counts[url] = len(contains)
        self._displays = None  # the new expansions, from the next conversion on
        return counts

    def displays(self) -> dict[tuple[str, str], str]:
        """(system, code) → display, from the synced value sets: French displays offline.

        Read again at most every `DISPLAYS_REFRESH` seconds, so that a sync made by
        another process (`crbio terminology sync`) reaches a running server.
        """
        now = time.monotonic()
        if self._displays is not None and now - self._displays[0] < DISPLAYS_REFRESH:
            return self._displays[1]
        found: dict[tuple[str, str], str] = {}
        for url in SYNCED_VALUE_SETS:
            value_set = self.store.get_resource("ValueSet", url)
            for item in (value_set or {}).get("expansion", {}).get("contains", ()):
                if item.get("display"):
                    found[(item.get("system", ""), item.get("code", ""))] = item["display"]
        self._displays = (now, found)
        return found

    def analysis_label(self, code: str) -> str | None:
        """The JDV French label of a LOINC analysis: its print label, else its reference label."""
        return self.jdv().analysis_label(code)

    def conversion_options(self) -> dict[str, Any]:
        """What `bridge.mapping.convert` takes from the terminology: the JDV's second-unit
        correspondences and analysis labels, and the synced displays. Every path that
        converts (the API, `crbio serve --ingest`, `crbio batch`) passes these, so a
        document gives the same Bundle whichever way it comes in."""
        return {
            "correspondence": self.correspondence,
            "displays": self.displays(),
            "labels": self.analysis_label,
        }


def from_settings(settings: Any, store: TerminologyStore | None = None) -> TerminologyService:
    """A service on `store` (the FHIR store of the server or the CLI), with the SMT unless
    offline; without a store, one SQLite file of its own at the configured path."""
    from bridge.terminology.smt import SmtCredentials
    from bridge.terminology.store import SqliteTerminologyStore

    if store is None:
        path = settings.sqlite_path
        if path is None:
            raise TerminologyUnavailable(
                f"without a store, terminology needs a SQLite database, not {settings.database_url}"
            )
        store = SqliteTerminologyStore(path)
    smt = None
    if not settings.offline:
        credentials = None
        if settings.smt_username and settings.smt_password:
            credentials = SmtCredentials(
                settings.smt_username,
                settings.smt_password,
                **({"token_url": settings.smt_token_url} if settings.smt_token_url else {}),
            )
        smt = SmtClient(settings.smt_url, timeout=settings.smt_timeout, credentials=credentials)
    return TerminologyService(store, smt)
