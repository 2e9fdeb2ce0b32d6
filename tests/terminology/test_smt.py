"""The SMT client and the service's fallback chain, against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.errors import TerminologyUnavailable
from bridge.terminology import SmtClient, SmtCredentials, SqliteTerminologyStore, TerminologyService
from bridge.terminology.operations import parse_lookup, parse_translate
from bridge.terminology.smt import CircuitBreaker
from tests.terminology.fake_smt import Behaviour, FakeSmt, Running

SNOMED = "http://snomed.info/sct"
MAPPED = {
    "resourceType": "Parameters",
    "parameter": [
        {"name": "result", "valueBoolean": True},
        {
            "name": "match",
            "part": [
                {"name": "equivalence", "valueCode": "equivalent"},
                {
                    "name": "concept",
                    "valueCoding": {
                        "system": "urn:oid:1.2.250.1.213.2.12",
                        "code": "R-1234",
                        "display": "équivalent",
                    },
                },
            ],
        },
    ],
}


@pytest.fixture
def smt() -> Iterator[FakeSmt]:
    with Running(FakeSmt(translations={"260385009": MAPPED})) as server:
        yield server


def client(smt: FakeSmt, **options: Any) -> SmtClient:
    options.setdefault("timeout", 2.0)
    options.setdefault("backoff", 0.01)
    return SmtClient(smt.base, **options)


def service(smt: FakeSmt, **options: Any) -> TerminologyService:
    return TerminologyService(SqliteTerminologyStore(), client(smt, **options), ttl=3600)


def snomed_translation() -> Any:
    return parse_translate([("system", SNOMED), ("code", "260385009")])


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_translate_over_http(smt: FakeSmt) -> None:
    answer = run(client(smt).translate([("system", SNOMED), ("code", "260385009")]))
    assert answer == MAPPED
    assert smt.calls["translate"] == 1


def test_a_jdv_code_never_leaves_the_machine(smt: FakeSmt) -> None:
    answer = run(
        service(smt).translate(
            parse_translate([("system", "http://loinc.org"), ("code", "40193-5")])
        )
    )
    assert answer.origin == "local"
    assert [m.code for m in answer.matches] == ["53049-3"]
    assert smt.calls["translate"] == 0


def test_cache_misses_go_to_the_smt_and_are_cached(smt: FakeSmt) -> None:
    terminology = service(smt)
    first = run(terminology.translate(snomed_translation()))
    second = run(terminology.translate(snomed_translation()))
    assert (first.origin, second.origin) == ("smt", "cache")
    assert second.parameters == MAPPED
    assert smt.calls["translate"] == 1


def test_expired_cache_asks_again(smt: FakeSmt) -> None:
    terminology = service(smt)
    terminology.ttl = -1  # every answer is already stale
    run(terminology.translate(snomed_translation()))
    run(terminology.translate(snomed_translation()))
    assert smt.calls["translate"] == 2


def test_with_the_smt_down_cached_answers_are_served(smt: FakeSmt) -> None:
    terminology = service(smt)
    terminology.ttl = -1
    run(terminology.translate(snomed_translation()))
    smt.behaviour = Behaviour(fail_with=503, fail_times=99)
    answer = run(terminology.translate(snomed_translation()))
    assert answer.origin == "stale-cache" and answer.parameters == MAPPED


def test_with_the_smt_down_uncached_answers_are_a_clear_error(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(fail_with=503, fail_times=99)
    with pytest.raises(TerminologyUnavailable, match="HTTP 503"):
        run(service(smt).translate(snomed_translation()))


def test_5xx_is_retried_with_back_off(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(fail_with=502, fail_times=2)
    answer = run(client(smt, retries=2).translate([("system", SNOMED), ("code", "260385009")]))
    assert answer == MAPPED
    assert smt.calls["translate"] == 3


def test_retries_are_bounded(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(fail_with=500, fail_times=99)
    with pytest.raises(TerminologyUnavailable):
        run(client(smt, retries=2).translate([("code", "x")]))
    assert smt.calls["translate"] == 3


def test_a_client_error_is_not_retried(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(fail_with=400, fail_times=99)
    with pytest.raises(TerminologyUnavailable, match="HTTP 400"):
        run(client(smt, retries=3).translate([("code", "x")]))
    assert smt.calls["translate"] == 1


def test_an_unreachable_smt_costs_one_timeout_not_one_per_call(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(delay=1.0)
    smt_client = client(smt, timeout=0.2, breaker=CircuitBreaker(cooldown=60))
    for _ in range(5):
        with pytest.raises(TerminologyUnavailable):
            run(smt_client.translate([("code", "x")]))
    assert smt.calls["translate"] == 1  # the first call timed out; the breaker kept the others
    assert smt_client.breaker.is_open


def test_the_breaker_lets_one_call_through_after_its_cooldown(smt: FakeSmt) -> None:
    now = [0.0]
    breaker = CircuitBreaker(cooldown=30, clock=lambda: now[0])
    smt.behaviour = Behaviour(fail_with=503, fail_times=99)
    smt_client = client(smt, retries=0, breaker=breaker)
    with pytest.raises(TerminologyUnavailable):
        run(smt_client.translate([("code", "x")]))
    smt.behaviour = Behaviour()
    with pytest.raises(TerminologyUnavailable, match="unreachable a moment ago"):
        run(smt_client.translate([("code", "x")]))
    now[0] = 31.0
    run(smt_client.translate([("code", "x")]))
    assert smt.calls["translate"] == 2 and not breaker.is_open


def test_connection_refused_is_unavailable() -> None:
    smt_client = SmtClient("http://127.0.0.1:9/fhir", timeout=1)
    with pytest.raises(TerminologyUnavailable, match="unreachable"):
        run(smt_client.translate([("code", "x")]))


def test_a_malformed_body_is_unavailable(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(malformed=True)
    with pytest.raises(TerminologyUnavailable, match="malformed"):
        run(client(smt).translate([("code", "x")]))


def test_anonymous_by_default_401_is_refused(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(require_token=True)
    with pytest.raises(TerminologyUnavailable, match="401"):
        run(client(smt).translate([("code", "x")]))
    assert smt.calls["token"] == 0


def test_bearer_token_from_keycloak_and_renewed_once_on_401(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(require_token=True, token_rejections=1)
    credentials = SmtCredentials("dr.house", "secret", token_url=smt.token_url)
    answer = run(client(smt, credentials=credentials).translate([("code", "260385009")]))
    assert answer == MAPPED
    assert smt.calls["token"] == 2  # the first token was refused once, a new one was fetched


def test_wrong_credentials_are_a_clear_error(smt: FakeSmt) -> None:
    smt.behaviour = Behaviour(require_token=True)
    credentials = SmtCredentials("dr.house", "wrong", token_url=smt.token_url)
    with pytest.raises(TerminologyUnavailable, match="Keycloak refused"):
        run(client(smt, credentials=credentials).translate([("code", "x")]))


def test_lookup_outside_the_jdv_goes_to_the_smt(smt: FakeSmt) -> None:
    terminology = service(smt)
    answer = run(
        terminology.lookup(parse_lookup([("system", "http://loinc.org"), ("code", "2951-2")]))
    )
    assert answer.origin == "smt"
    display = [p for p in answer.parameters["parameter"] if p["name"] == "display"]
    assert display[0]["valueString"] == "Libellé SMT de 2951-2"


def test_lookup_in_the_jdv_is_local_and_french(smt: FakeSmt) -> None:
    answer = run(
        service(smt).lookup(parse_lookup([("system", "http://loinc.org"), ("code", "718-7")]))
    )
    assert answer.origin == "local"
    params = {p["name"]: p for p in answer.parameters["parameter"]}
    assert params["display"]["valueString"] == "Hémoglobine [Masse/Volume] Sang ; Numérique"
    assert smt.calls["lookup"] == 0


def test_sync_pages_through_expand_and_keeps_the_expansion(smt: FakeSmt) -> None:
    url = "https://smt.esante.gouv.fr/fhir/ValueSet/jdv-technique-biologie-cisis"
    smt.value_sets[url] = [
        {
            "system": "https://smt.esante.gouv.fr/terminologie-tccr",
            "code": f"T{i:03d}",
            "display": f"Technique {i}",
        }
        for i in range(25)
    ]
    terminology = service(smt)
    counts = run(terminology.sync((url,), page=10))
    assert counts == {url: 25}
    assert smt.expand_requests == [(0, 10), (10, 10), (20, 10)]
    displays = terminology.displays()
    assert displays[("https://smt.esante.gouv.fr/terminologie-tccr", "T024")] == "Technique 24"
