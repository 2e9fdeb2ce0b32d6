"""Malformed input of every kind gets a 4xx OperationOutcome, never a 500, and nothing
is stored: wrong JSON types, deep nesting, numbers and dates out of range, NUL bytes,
lone surrogates, invalid ids (issue 8, items 6 and 8), on both engines."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from bridge.api.requests import MAX_JSON_DEPTH
from tests.api.conftest import FHIR, Api
from tests.api.test_errors import refused

PATIENT = {"resourceType": "Patient", "gender": "female"}


def _transaction(*entries: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _count(api: Api, resource_type: str = "Patient") -> int:
    return int(api.http.get(f"/{resource_type}", params={"_summary": "count"}).json()["total"])


BAD_BUNDLES = {
    "request-a-string": _transaction({"resource": PATIENT, "request": "PUT Patient/p"}),
    "method-a-number": _transaction(
        {"resource": PATIENT, "request": {"method": 7, "url": "Patient/p"}}
    ),
    "url-an-array": _transaction(
        {"resource": PATIENT, "request": {"method": "PUT", "url": ["Patient/p"]}}
    ),
    "no-url": _transaction({"resource": PATIENT, "request": {"method": "PUT"}}),
    "resource-a-string": _transaction(
        {"resource": "Patient", "request": {"method": "PUT", "url": "Patient/p"}}
    ),
    "fullUrl-an-object": _transaction(
        {"fullUrl": {"x": 1}, "resource": PATIENT, "request": {"method": "POST", "url": "P"}}
    ),
    "ifNoneExist-an-array": _transaction(
        {"resource": PATIENT, "request": {"method": "POST", "url": "Patient", "ifNoneExist": [1]}}
    ),
    "entry-a-string": _transaction("not an entry"),
    "entry-an-object": {"resourceType": "Bundle", "type": "transaction", "entry": {}},
    "entry-empty": {"resourceType": "Bundle", "type": "transaction", "entry": []},
    "entries-a-string": {"resourceType": "Bundle", "type": "batch", "entry": "x"},
    "type-an-array": {"resourceType": "Bundle", "type": ["transaction"]},
}


def test_bundles_of_the_wrong_shape_are_400(shared: Api) -> None:
    before = _count(shared)
    for name, bundle in BAD_BUNDLES.items():
        response = shared.http.post("", json=bundle, headers=FHIR)
        assert response.status_code == 400, (name, response.text)
        refused(response, 400, "invalid")
    assert _count(shared) == before


def test_json_nested_100000_deep_is_400(shared: Api) -> None:
    for opening, closing in (("[", "]"), ('{"a":', "}")):
        body = '{"resourceType":"Patient","extension":' + opening * 100_000 + "1"
        body += closing * 100_000 + "}"
        for path in ("/Patient", "", "/ConceptMap/$translate", "/Patient/p"):
            post = shared.http.put if path == "/Patient/p" else shared.http.post
            diagnostics = refused(post(path, content=body, headers=FHIR), 400, "invalid")
            assert str(MAX_JSON_DEPTH) in diagnostics


def test_brackets_in_strings_are_not_nesting(shared: Api) -> None:
    patient = PATIENT | {"name": [{"text": "[[[[{{{{" * 50}]}
    assert shared.http.post("/Patient", json=patient, headers=FHIR).status_code == 201


JSON_FHIR_FORBIDS = {
    "nul": ('{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}', "control character"),
    "lone-surrogate": ('{"resourceType":"Patient","name":[{"family":"a\\ud800"}]}', "surrogate"),
    "empty-string": ('{"resourceType":"Patient","name":[{"family":""}]}', "empty"),
    "empty-array": ('{"resourceType":"Patient","name":[]}', "empty"),
    "empty-object": ('{"resourceType":"Patient","name":[{}]}', "empty"),
    "control-in-a-name": ('{"resourceType":"Patient","\\u0001":1}', "control character"),
    "nan": ('{"resourceType":"Patient","multipleBirthInteger":NaN}', "JSON"),
    "huge-integer": (
        '{"resourceType":"Patient","multipleBirthInteger":1' + "0" * 5000 + "}",
        "out of range",
    ),
}


def test_json_that_fhir_forbids_is_400(shared: Api) -> None:
    before = _count(shared)
    for name, (body, named) in JSON_FHIR_FORBIDS.items():
        response = shared.http.post("/Patient", content=body, headers=FHIR)
        assert response.status_code == 400, (name, response.text)
        assert named in refused(response, 400, "invalid"), name
    raw = b'{"resourceType":"Patient","name":[{"family":"\xed\xa0\x80\xff"}]}'
    response = shared.http.post("/Patient", content=raw, headers=FHIR)
    assert "UTF-8" in refused(response, 400, "invalid")
    overflowing = shared.http.post(
        "/Patient", json=PATIENT | {"multipleBirthInteger": 2**40}, headers=FHIR
    )
    assert overflowing.status_code == 422, overflowing.text
    assert _count(shared) == before


BAD_PARAMETERS = {
    "a-string": {"resourceType": "Parameters", "parameter": "code"},
    "strings": {"resourceType": "Parameters", "parameter": ["code", "system"]},
    "name-a-number": {"resourceType": "Parameters", "parameter": [{"name": 7, "valueCode": "x"}]},
    "url-an-array": {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": [1]}]},
    "coding-a-string": {
        "resourceType": "Parameters",
        "parameter": [{"name": "coding", "valueCoding": "http://loinc.org|718-7"}],
    },
}


def test_parameters_of_the_wrong_shape_are_400(shared: Api) -> None:
    for operation in ("/ConceptMap/$translate", "/CodeSystem/$lookup"):
        for name, parameters in BAD_PARAMETERS.items():
            response = shared.http.post(operation, json=parameters, headers=FHIR)
            assert response.status_code == 400, (operation, name, response.text)
            refused(response, 400, "invalid")


def test_versions_out_of_range_are_404(shared: Api) -> None:
    shared.http.put("/Patient/versioned", json=PATIENT | {"id": "versioned"}, headers=FHIR)
    for version in ("99999999999999999999999", "2147483648", "0", "²", "١", "-1", "1e3"):
        refused(shared.http.get(f"/Patient/versioned/_history/{version}"), 404, "not-found")
    assert shared.http.get("/Patient/versioned/_history/1").status_code == 200


BAD_SEARCHES = {
    "count-superscript": {"_count": "²"},
    "nul-code": {"code": "a\x00b"},
    "nul-based-on": {"based-on": "ServiceRequest/a\x00b"},
    "nul-identifier": {"identifier": "urn:oid:1.2.250.1.213.1.4.10|\x00"},
    "nul-id": {"_id": "\x00"},
    "year-99999": {"date": "ge99999-01-01"},
    "year-0": {"date": "ge0000-01-01"},
    "last-updated-10000": {"_lastUpdated": "gt10000-01-01T00:00:00Z"},
    "quantity-huge": {"value-quantity": "1e999999999|http://unitsofmeasure.org|g/L"},
    "quantity-tiny": {"value-quantity": "1e-400"},
    "sort-twice": {"_sort": "date,date"},
}


def test_search_values_out_of_range_are_400(shared: Api) -> None:
    for name, params in BAD_SEARCHES.items():
        response = shared.http.get("/Observation", params=params)
        assert response.status_code == 400, (name, response.text)
        refused(response, 400, "invalid")
    huge = shared.http.get("/Observation", params={"_count": "9" * 5000})
    assert huge.status_code == 200, huge.text  # the largest page


def test_a_search_posted_as_a_form_is_held_to_the_same_rules(shared: Api) -> None:
    refused(shared.http.post("/Observation/_search", data={"code": "a\x00b"}), 400, "invalid")
    wrong_type = shared.http.post(
        "/Observation/_search", content=b"code=1", headers={"Content-Type": "text/plain"}
    )
    refused(wrong_type, 415, "not-supported")
    posted = shared.http.post("/Observation/_search", data={"code": "x" * 70_000})
    refused(posted, 413, "too-long")


# Ids (item 8): FHIR's [A-Za-z0-9\-.]{1,64} everywhere ---------------------------

BAD_IDS = ["a" * 65, "a%00b", "a_b", "a%20b", "é", "a:b", "a%2Cb", "%ED%A0%80", "a%2Fb"]


def test_invalid_ids_are_400_on_every_path_and_store_nothing(shared: Api) -> None:
    before = _count(shared)
    for bad in BAD_IDS:
        response = shared.http.put(f"/Patient/{bad}", json=PATIENT, headers=FHIR)
        if bad == "a%2Fb":  # a slash: another path, which no route serves
            refused(response, 404, "not-found")
            continue
        diagnostics = refused(response, 400, "invalid")
        assert "FHIR id" in diagnostics or "control character" in diagnostics, bad
        for path in ("/Patient/{}", "/Patient/{}/_history", "/Patient/{}/_history/1"):
            refused(shared.http.get(path.format(bad)), 400, "invalid")
        refused(shared.http.delete(f"/Patient/{bad}"), 400, "invalid")
    assert _count(shared) == before


def test_an_invalid_id_in_a_body_or_a_bundle_stores_nothing(shared: Api) -> None:
    before = _count(shared)
    long_id = "a" * 65
    for invalid in (long_id, 12, "a b"):
        response = shared.http.post("/Patient", json=PATIENT | {"id": invalid}, headers=FHIR)
        refused(response, 400, "invalid")
    for url in (f"Patient/{long_id}", "Patient/a\x00b", "Patient/a b", "Patient/a_b"):
        bundle = _transaction(
            {"resource": PATIENT | {"id": "ok"}, "request": {"method": "PUT", "url": "Patient/ok"}},
            {"resource": PATIENT, "request": {"method": "PUT", "url": url}},
        )
        refused(shared.http.post("", json=bundle, headers=FHIR), 400, "invalid")
    assert _count(shared) == before


def test_a_reference_with_an_invalid_id_is_400(shared: Api) -> None:
    before = _count(shared, "Observation")
    for reference in (
        "Patient/" + "a" * 65,
        "Patient/a b",
        "Patient/a\x00b",
        "patient",
        "Patient/",
    ):
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "glucose"},
            "subject": {"reference": reference},
        }
        response = shared.http.post("/Observation", json=observation, headers=FHIR)
        assert response.status_code == 400, (reference, response.text)
    assert _count(shared, "Observation") == before


def test_a_nul_byte_on_the_wire_is_refused(shared: Api) -> None:
    """What httpx would not send: the bytes themselves, in the request line."""
    host, port = shared.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(b"GET /fhir/Patient/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = connection.recv(200)
    assert answer.startswith(b"HTTP/1.1 4"), answer
    assert httpx.get(f"{shared.url}/healthz").status_code == 200


def test_operation_values_are_held_to_the_same_rules(shared: Api) -> None:
    """Found by schemathesis: a control character in `_type` was read as a blank value
    (all types), and `max=²` as a number."""
    for path, params in (
        ("/$export", {"_type": "\x1d"}),
        ("/Patient/$export", {"_typeFilter": "Observation?code=1\x00"}),
        ("/Observation/$lastn", {"patient": "p", "code": "1", "max": "²"}),
    ):
        response = shared.http.get(path, params=params)
        assert response.status_code == 400, (path, response.text)


OUT_OF_RANGE_NUMBERS = {
    "decimal-huge": ("valueQuantity", '{"value":1E+999}'),
    "decimal-tiny": ("valueQuantity", '{"value":-1e-400}'),
    "integer-400-digits": ("valueQuantity", '{"value":1' + "0" * 400 + "}"),
    "range-bound": ("referenceRange", '[{"low":{"value":-1e400}}]'),
    "extension-decimal": ("extension", '[{"url":"http://example.org/x","valueDecimal":9e999}]'),
}


def test_numbers_beyond_what_the_store_compares_are_400(shared: Api) -> None:
    """Found by a review: 1E+999 was stored (and then failed every bulk export, which
    reads stored JSON as doubles); 10^400 written as an integer was a 500."""
    before = _count(shared, "Observation")
    head = '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
    for name, (element, value) in OUT_OF_RANGE_NUMBERS.items():
        response = shared.http.post(
            "/Observation", content=f'{head}"{element}":{value}}}', headers=FHIR
        )
        assert "out of range" in refused(response, 400, "invalid"), name
    assert _count(shared, "Observation") == before


def test_numbers_of_many_digits_are_kept_as_written(api: Api) -> None:
    """Numbers of 20 digits fit no 64-bit integer: they are kept exactly as written."""
    body = '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
    body += '"valueQuantity":{"value":12345678901234567890.5},'
    body += '"extension":[{"url":"http://example.org/x","valueDecimal":98765432109876543210}]}'
    created = api.http.post("/Observation", content=body, headers=FHIR)
    assert created.status_code == 201, created.text
    read = api.http.get(f"/Observation/{created.json()['id']}").text
    assert "12345678901234567890.5" in read and "98765432109876543210" in read


def test_terminology_values_are_held_to_the_same_rules(shared: Api) -> None:
    """Found by a review: a NUL byte in a $translate or $lookup query string went on to
    the SMT (a 503 offline) instead of being refused."""
    loinc = "http://loinc.org"
    for path, params in (
        ("/ConceptMap/$translate", {"system": loinc, "code": "2345-7\x00"}),
        ("/ConceptMap/$translate", {"system": loinc + "\x00", "code": "2345-7"}),
        ("/ConceptMap/$translate", {"coding": f"{loinc}|"}),
        ("/ConceptMap/$translate", {"system": "", "code": "2345-7"}),
        ("/CodeSystem/$lookup", {"system": loinc, "code": "2345-7\x7f"}),
        ("/CodeSystem/$lookup", {"system": "\x00", "code": "2345-7"}),
    ):
        refused(shared.http.get(path, params=params), 400, "invalid")
    looked_up = shared.http.get("/CodeSystem/$lookup", params={"coding": f"{loinc}|2345-7"})
    assert looked_up.status_code == 200, looked_up.text


def test_a_refusal_names_a_huge_value_without_sending_it_back(shared: Api) -> None:
    """A code or unit of tens of kB is refused with a message of at most a few kB."""
    huge = "x" * 30_000  # twice that is what a URL may carry (httpx: 64 kB)
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "code", "valueCode": "y" * 200_000}, {"name": "system"}],
    }
    answers = [
        shared.http.get("/Observation", params={"date": f"ge{huge}", "_sort": huge}),
        shared.http.get(f"/Observation/{'a' * 64}/$convert-unit", params={"unit": huge}),
        shared.http.post("/ConceptMap/$translate", json=parameters, headers=FHIR),
    ]
    for response in answers:
        assert 400 <= response.status_code < 500, response.text[:300]
        assert len(response.content) < 3_000, response.text[:300]
        [issue] = response.json()["issue"]
        assert issue["diagnostics"]


def test_a_string_search_value_is_bounded(shared: Api) -> None:
    """SQLite refuses LIKE patterns over 50,000 bytes (a 500 before): 400 on either engine,
    at the kick-off of an export too."""
    long = "x" * 50_001
    for path in ("/Patient", "/ConceptMap", "/Practitioner"):
        refused(shared.http.get(path, params={"name": long}), 400, "invalid")
    kickoff = shared.http.get(
        "/$export",
        params={"_type": "Patient", "_typeFilter": f"Patient?name={'y' * 3_000}"},
        headers={"Prefer": "respond-async"},
    )
    assert kickoff.status_code == 400, kickoff.text
    assert shared.http.get("/Patient", params={"name": "x" * 2_000}).status_code == 200


def test_operation_parameters_given_once_are_refused_twice(shared: Api) -> None:
    """Two codes in one $translate question were translated together, answers mixed; a
    boolean read 'maybe' as false; $lastn kept one of two max."""
    for path, params in (
        (
            "/ConceptMap/$translate",
            [("system", "http://loinc.org"), ("code", "40193-5"), ("code", "53049-3")],
        ),
        (
            "/ConceptMap/$translate",
            [("system", "http://loinc.org"), ("code", "40193-5"), ("reverse", "maybe")],
        ),
        (
            "/CodeSystem/$lookup",
            [("system", "http://loinc.org"), ("code", "40193-5"), ("code", "53049-3")],
        ),
        (
            "/Observation/$lastn",
            [("patient", "p"), ("category", "laboratory"), ("max", "1"), ("max", "2")],
        ),
    ):
        refused(shared.http.get(path, params=params), 400, "invalid")
