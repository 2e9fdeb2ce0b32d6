"""The SMT client against a real FHIR terminology server: a second bridge on loopback.

Bridge B plays the SMT (it answers $translate and $lookup, and holds a ConceptMap
the first bridge does not have). Bridge A is configured with B as its SMT: what A's
JDV lacks goes to B over HTTP, is cached, and is still answered when B goes away.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bridge.settings import Settings
from bridge.terminology import SmtClient
from tests.api.conftest import FHIR, running_api
from tests.stores import open_test_store

LOINC = "http://loinc.org"
LOCAL_MAP = {
    "resourceType": "ConceptMap",
    "status": "active",
    "version": "2025-01",
    "url": "https://smt.esante.gouv.fr/fhir/ConceptMap/test-codes-labo-loinc",
    "group": [
        {
            "source": "https://example.org/codes-labo",
            "target": LOINC,
            "element": [
                {
                    "code": "K",
                    "display": "Potassium",
                    "target": [
                        {
                            "code": "2823-3",
                            "display": "Potassium [Moles/volume] in Serum or Plasma",
                            "equivalence": "equivalent",
                        }
                    ],
                }
            ],
        }
    ],
}
QUERY = {"url": LOCAL_MAP["url"], "system": "https://example.org/codes-labo", "code": "K"}


def test_smt_client_translates_and_looks_up_on_a_fhir_terminology_server(tmp_path: Path) -> None:
    with open_test_store("sqlite", tmp_path) as store, running_api(store) as smt:
        client = SmtClient(smt.base, timeout=5)
        answer = asyncio.run(
            client.translate([("system", LOINC), ("code", "14749-6"), ("targetsystem", LOINC)])
        )
        assert answer["resourceType"] == "Parameters"
        assert answer["parameter"][0] == {"name": "result", "valueBoolean": True}
        looked_up = asyncio.run(client.lookup([("system", LOINC), ("code", "14749-6")]))
        names = {p["name"] for p in looked_up["parameter"]}
        assert {"name", "display"} <= names


def test_a_bridge_asks_its_smt_for_what_its_jdv_lacks_and_caches_the_answer(tmp_path: Path) -> None:
    with (
        open_test_store("sqlite", tmp_path / "b") as smt_store,
        open_test_store("sqlite", tmp_path / "a") as store,
    ):
        with running_api(smt_store) as smt:
            created = smt.http.post("/ConceptMap", json=LOCAL_MAP, headers=FHIR)
            assert created.status_code == 201
            settings = Settings(offline=False, smt_url=smt.base, smt_timeout=5)
            with running_api(store, settings) as bridge:
                first = bridge.http.get("/ConceptMap/$translate", params=QUERY)
                assert first.status_code == 200, first.text
                assert first.headers["x-crbio-origin"] == "smt"
                match = next(p for p in first.json()["parameter"] if p["name"] == "match")
                concept = next(p for p in match["part"] if p["name"] == "concept")
                assert concept["valueCoding"]["code"] == "2823-3"

                second = bridge.http.get("/ConceptMap/$translate", params=QUERY)
                assert second.headers["x-crbio-origin"] == "cache"
                assert second.json() == first.json()

                local = bridge.http.get(
                    "/ConceptMap/$translate",
                    params={"system": LOINC, "code": "14749-6", "targetsystem": LOINC},
                )
                assert local.headers["x-crbio-origin"] == "local"  # never asked B

        # B is gone: A still answers what it cached, and says why it cannot answer the rest
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{smt.url}/healthz", timeout=1)
        with running_api(store, Settings(offline=False, smt_url=smt.base, smt_timeout=1)) as bridge:
            cached = bridge.http.get("/ConceptMap/$translate", params=QUERY)
            assert cached.status_code == 200
            assert cached.headers["x-crbio-origin"] == "cache"
            unknown = bridge.http.get("/ConceptMap/$translate", params=QUERY | {"code": "NA"})
            assert unknown.status_code == 503
            assert unknown.json()["issue"][0]["code"] == "transient"
            assert "SMT" in unknown.json()["issue"][0]["diagnostics"]
