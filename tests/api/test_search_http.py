"""FHIR search over HTTP on the example documents: the parameters clients rely on."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.conftest import FHIR, Api

INS = "urn:oid:1.2.250.1.213.1.4.10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _patient(api: Api, nir: str) -> str:
    bundle = api.http.get("/Patient", params={"identifier": f"{INS}|{nir}"}).json()
    assert len(bundle["entry"]) == 1
    return str(bundle["entry"][0]["resource"]["id"])


def _ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", ()) if e["search"]["mode"] == mode]


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", ())]


def test_patient_by_ins(loaded: Api) -> None:
    bundle = loaded.http.get("/Patient", params={"identifier": f"{INS}|168056938321409"}).json()
    assert bundle["type"] == "searchset"
    [patient] = _resources(bundle)
    assert patient["name"][0]["family"] == "GARNIER"
    assert (
        loaded.http.get("/Patient", params={"identifier": f"{INS}|000"}).json().get("entry") is None
    )


def test_observations_of_a_patient_by_code_sorted_newest_first(loaded: Api) -> None:
    patient = _patient(loaded, "168056938321409")
    bundle = loaded.http.get(
        "/Observation", params={"patient": patient, "code": f"{LOINC}|40193-5", "_sort": "-date"}
    ).json()
    observations = _resources(bundle)
    assert observations, "the glucose of the GARNIER documents"
    dates = [o["effectiveDateTime"] for o in observations]
    assert dates == sorted(dates, reverse=True)
    assert {o["subject"]["reference"] for o in observations} == {f"Patient/{patient}"}


def test_date_prefixes_and_partial_dates(loaded: Api) -> None:
    def count(**params: str | list[str]) -> int:
        return int(
            loaded.http.get("/Observation", params={**params, "_summary": "count"}).json()["total"]
        )

    everything = count()
    in_2025 = count(date="2025")
    assert in_2025 == everything  # every example is of 2025
    march = count(date="2025-03")
    assert 0 < march < in_2025
    assert count(date=["ge2025-03-01", "lt2025-04-01"]) == march
    assert count(date="ne2025-03") == everything - march
    assert count(date="gt2025-12-31") == 0
    assert count(date="le2024-12-31") == 0
    assert count(date="2025-03-20T07:30:00+01:00") == count(date="2025-03-20T06:30:00Z") > 0


def test_value_quantity_compares_across_units(loaded: Api) -> None:
    in_g_per_dl = loaded.http.get(
        "/Observation", params={"code": f"{LOINC}|718-7", "value-quantity": f"13.2|{UCUM}|g/dL"}
    ).json()
    found = {
        (h["valueQuantity"]["value"], h["valueQuantity"]["code"]) for h in _resources(in_g_per_dl)
    }
    assert found == {(132, "g/L"), (13.2, "g/dL")}  # each stored as given
    above = loaded.http.get(
        "/Observation", params={"code": f"{LOINC}|718-7", "value-quantity": f"gt14|{UCUM}|g/dL"}
    ).json()
    assert "entry" not in above


def test_combo_code_finds_a_result_by_its_second_unit(loaded: Api) -> None:
    by_code = loaded.http.get("/Observation", params={"code": f"{LOINC}|53049-3"}).json()
    by_combo = loaded.http.get("/Observation", params={"combo-code": f"{LOINC}|53049-3"}).json()
    assert set(_ids(by_code)) < set(_ids(by_combo))  # and those carrying it as a component


def test_category_and_status(loaded: Api) -> None:
    lab = loaded.http.get(
        "/Observation",
        params={
            "category": "http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
            "_summary": "count",
        },
    ).json()["total"]
    assert lab > 0
    final = loaded.http.get("/Observation", params={"status": "final", "_summary": "count"})
    assert 0 < final.json()["total"] <= lab + 20


def test_include_the_results_and_the_patient_of_a_report(loaded: Api) -> None:
    bundle = loaded.http.get(
        "/DiagnosticReport",
        params={
            "_include": ["DiagnosticReport:result", "DiagnosticReport:patient"],
            "_count": 1,
        },
    ).json()
    [report] = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    included = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
        if e["search"]["mode"] == "include"
    }
    assert {r["reference"] for r in report["result"]} <= included
    assert report["subject"]["reference"] in included


def test_reports_refer_to_their_pdf_by_url_and_the_binary_is_served_raw(loaded: Api) -> None:
    bundle = loaded.http.get("/DiagnosticReport", params={"_count": 50}).json()
    forms = [f for r in _resources(bundle) for f in r.get("presentedForm", ())]
    assert forms and all("data" not in f and f["url"].startswith("Binary/") for f in forms)
    pdf = loaded.http.get(f"/{forms[0]['url']}")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    as_fhir = loaded.http.get(f"/{forms[0]['url']}", headers={"Accept": "application/fhir+json"})
    assert as_fhir.json()["resourceType"] == "Binary"
    assert as_fhir.json()["contentType"] == "application/pdf"


def test_summary_count_and_total(loaded: Api) -> None:
    counted = loaded.http.get("/Observation", params={"_summary": "count"}).json()
    assert "entry" not in counted and counted["total"] > 20
    with_total = loaded.http.get("/Observation", params={"_total": "accurate", "_count": 2})
    assert with_total.json()["total"] == counted["total"]
    assert len(with_total.json()["entry"]) == 2


def test_paging_follows_next_links_to_every_match_once(loaded: Api) -> None:
    total = loaded.http.get("/Observation", params={"_summary": "count"}).json()["total"]
    url: str | None = f"{loaded.base}/Observation?_count=7&_sort=-date"
    seen: list[str] = []
    pages = 0
    while url:
        bundle = httpx.get(url).json()
        seen += _ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        pages += 1
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 7)


def test_next_link_is_stable_under_inserts(api: Api) -> None:
    def observation(day: int) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "2345-7"}]},
            "subject": {"reference": "Patient/p"},
            "effectiveDateTime": f"2025-01-{day:02d}",
        }

    patient = {"resourceType": "Patient", "id": "p"}
    assert api.http.put("/Patient/p", json=patient, headers=FHIR).status_code == 201
    for day in range(1, 11):
        api.http.post("/Observation", json=observation(day), headers=FHIR)
    first = api.http.get(
        "/Observation",
        params={"patient": "p", "code": f"{LOINC}|2345-7", "_sort": "-date", "_count": 4},
    ).json()
    for day in (28, 29, 30):  # newer than the first page: must not shift the pages
        api.http.post("/Observation", json=observation(day), headers=FHIR)
    dates = [o["effectiveDateTime"] for o in _resources(first)]
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while url:
        bundle = httpx.get(url).json()
        dates += [o["effectiveDateTime"] for o in _resources(bundle)]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert dates == [f"2025-01-{d:02d}" for d in range(10, 0, -1)]


def test_unknown_parameters_are_ignored_and_left_out_of_self(loaded: Api) -> None:
    bundle = loaded.http.get("/Observation", params={"status": "final", "colour": "blue"})
    assert bundle.status_code == 200
    self_url = next(link["url"] for link in bundle.json()["link"] if link["relation"] == "self")
    assert parse_qs(urlsplit(self_url).query) == {"status": ["final"]}


def test_unknown_parameters_are_refused_under_strict_handling(loaded: Api) -> None:
    response = loaded.http.get(
        "/Observation", params={"colour": "blue"}, headers={"Prefer": "handling=strict"}
    )
    assert response.status_code == 400
    assert "colour" in response.json()["issue"][0]["diagnostics"]


def test_search_with_post_form(loaded: Api) -> None:
    posted = loaded.http.post("/Patient/_search", data={"identifier": f"{INS}|168056938321409"})
    assert [p["name"][0]["family"] for p in _resources(posted.json())] == ["GARNIER"]


def test_last_updated(loaded: Api) -> None:
    assert (
        loaded.http.get(
            "/Patient", params={"_lastUpdated": "ge2020-01-01", "_summary": "count"}
        ).json()["total"]
        > 0
    )
    assert (
        loaded.http.get(
            "/Patient", params={"_lastUpdated": "lt2020-01-01", "_summary": "count"}
        ).json()["total"]
        == 0
    )


def test_an_unencoded_plus_in_a_date_offset_is_understood(loaded: Api) -> None:
    encoded = loaded.http.get("/Observation?date=ge2025-03-20T07:30:00%2B01:00&_summary=count")
    unencoded = loaded.http.get("/Observation?date=ge2025-03-20T07:30:00+01:00&_summary=count")
    assert unencoded.status_code == 200
    assert unencoded.json()["total"] == encoded.json()["total"] > 0
