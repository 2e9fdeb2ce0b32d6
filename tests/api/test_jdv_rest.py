"""The JDV over REST: a version imported by `crbio terminology import-jdv` in another
process, on the server's database, is read, searched and used without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.store import open_store
from bridge.terminology import service as terminology_service
from bridge.terminology.conceptmap import CODESYSTEM_URL, CONCEPTMAP_URL
from tests.api.conftest import running_api
from tests.stores import database_url
from tests.terminology.test_jdv import workbook

LOINC = "http://loinc.org"


def test_a_jdv_imported_by_another_process_is_served_at_once(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminology_service, "JDV_REFRESH", 0.0)  # no wait in the test
    with database_url(engine, tmp_path) as url:
        store = open_store(url)
        try:
            with running_api(store) as api:

                def translate(code: str) -> list[str]:
                    answer = api.http.get(
                        "/ConceptMap/$translate", params={"system": LOINC, "code": code}
                    ).json()
                    return [
                        p["valueCoding"]["code"]
                        for m in answer["parameter"]
                        if m["name"] == "match"
                        for p in m["part"]
                        if p["name"] == "concept"
                    ]

                assert translate("40193-5") == ["53049-3"]  # the seed
                crbio = Path(sys.executable).parent / "crbio"
                imported = subprocess.run(
                    [str(crbio), "terminology", "import-jdv", str(workbook(tmp_path / "j.xlsx"))]
                    + ["--version", "2025-09"],
                    env={**os.environ, "BRIDGE_DATABASE_URL": url, "BRIDGE_OFFLINE": "1"},
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert imported.returncode == 0, imported.stderr
                assert translate("14647-2") == ["2093-3"]  # the new version, no restart
                found = api.http.get(
                    "/ConceptMap", params={"url": CONCEPTMAP_URL, "version": "2025-09"}
                ).json()
                [conceptmap] = [e["resource"] for e in found["entry"]]
                assert api.http.get(f"/ConceptMap/{conceptmap['id']}").status_code == 200
                versions = api.http.get("/CodeSystem", params={"url": CODESYSTEM_URL}).json()
                assert {e["resource"]["version"] for e in versions["entry"]} == {"seed", "2025-09"}
        finally:
            store.close()
