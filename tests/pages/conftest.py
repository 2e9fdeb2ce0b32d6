"""The pages against the real server on loopback, loaded once with the example documents.

One bridge (SQLite) serves the whole session of page tests, over HTTP: httpx for the
status codes, headers and markup, Debian's Chromium driven by Playwright for what a
clinician sees. Screenshots go to out/screenshots/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Api, running_api
from tests.helpers import ROOT, example_files
from tests.stores import open_test_store

TEST_INS = "urn:oid:1.2.250.1.213.1.4.10"
ROUSSEL = "275016912345618"  # 09.01 fasting glucose, 5.3 mmol/L then 0.95 g/L (PDF copies)
BLANC = "282036912345636"  # 09.03 TSH twice, JDV level 2
GARNIER = "168056938321409"  # glucose in two units (2021), its replacement, a report without PDF
NO_PDF = "urea-glucose-2021-translation.xml"  # a report without a PDF copy
WITH_PDF = "segur-0901-glucose-g.xml"
SCREENSHOTS = ROOT / "out" / "screenshots"


@dataclass
class Site:
    api: Api
    pages: httpx.Client  # base_url: the server root, where the pages are
    reports: dict[str, str]  # example document file name → its DiagnosticReport id

    def patient_id(self, ins: str) -> str:
        found = self.api.http.get("/Patient", params={"identifier": f"{TEST_INS}|{ins}"}).json()
        [entry] = found["entry"]
        return str(entry["resource"]["id"])


def _ingested(api: Api, path: Path) -> str:
    bundle = api.ingest(path).json()
    for entry in bundle.get("entry", ()):
        location = entry.get("response", {}).get("location", "")
        if location.startswith("DiagnosticReport/"):
            return str(location.split("/")[1])
    raise AssertionError(f"no DiagnosticReport stored for {path.name}")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_test_store("sqlite", tmp_path_factory.mktemp("pages")) as store:
        with running_api(store) as api:
            reports = {path.name: _ingested(api, path) for path in example_files()}
            with httpx.Client(base_url=api.url, timeout=60) as pages:
                yield Site(api, pages, reports)
