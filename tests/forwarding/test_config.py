"""Forwarding configuration: BRIDGE_FORWARD_TO, the TOML file, and the errors a typo gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.forwarding import (
    BearerToken,
    ClientCredentials,
    ForwardingConfigError,
    load_config,
    parse_config,
)
from bridge.settings import Settings

EXAMPLE = """
[worker]
backoff_cap = 30
lease = 90

[destinations.regional]
base = "https://fhir.region.example/fhir/"
max_attempts = 5
resource_types = ["DiagnosticReport", "Observation", "Patient"]
categories = ["http://loinc.org|18725-2", "18719-5"]
auth = { type = "bearer", token_env = "REGIONAL_TOKEN" }

[destinations.warehouse]
base = "https://dw.example/fhir"
timeout = 10
[destinations.warehouse.auth]
type = "client-credentials"
token_url = "https://auth.example/token"
client_id = "crbio"
client_secret_env = "DW_SECRET"
scope = "system/*.write"
"""


def test_the_file_and_the_environment_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIONAL_TOKEN", "s3cret")
    monkeypatch.setenv("DW_SECRET", "other")
    path = tmp_path / "forward.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    settings = Settings(
        forward_config=path,
        forward_to=("http://gp.example/fhir", "https://dw.example/fhir"),  # the second: known
    )
    config = load_config(settings)
    assert [d.name for d in config.destinations] == [
        "regional",
        "warehouse",
        "http://gp.example/fhir",
    ]
    regional, warehouse, gp = config.destinations
    assert regional.base == "https://fhir.region.example/fhir"
    assert regional.auth == BearerToken("s3cret") and "s3cret" not in repr(regional)
    assert regional.max_attempts == 5 and regional.takes_type("Observation")
    assert not regional.takes_type("Binary")
    assert isinstance(warehouse.auth, ClientCredentials)
    assert warehouse.auth.client_secret == "other" and warehouse.auth.client_auth == "basic"
    assert (warehouse.timeout, gp.auth, gp.categories, gp.max_attempts) == (10, None, None, 20)
    assert (config.worker.backoff_cap, config.worker.lease, config.worker.backoff_base) == (
        30,
        90,
        1,
    )


def test_nothing_configured_forwards_nowhere() -> None:
    assert load_config(Settings()).destinations == ()


def test_settings_read_the_forwarding_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_FORWARD_TO", " http://a.example/fhir , http://b.example/fhir,")
    monkeypatch.setenv("BRIDGE_FORWARD_CONFIG", "/etc/crbio/forward.toml")
    monkeypatch.setenv("BRIDGE_FORWARD_WORKER", "0")
    settings = Settings.from_environment()
    assert settings.forward_to == ("http://a.example/fhir", "http://b.example/fhir")
    assert settings.forward_config == Path("/etc/crbio/forward.toml")
    assert not settings.forward_worker


def test_categories_match_with_or_without_their_system() -> None:
    [destination] = parse_config(
        {
            "destinations": {
                "d": {"base": "http://d/fhir", "categories": ["http://loinc.org|18719-5"]}
            }
        }
    ).destinations
    report = {
        "resourceType": "DiagnosticReport",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "18719-5"}]}],
    }
    assert destination.takes_report([report])
    other = {**report, "category": [{"coding": [{"system": "urn:x", "code": "18719-5"}]}]}
    assert not destination.takes_report([other])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"destinations": {"d": {"base": "http://d/fhir", "bse": 1}}}, "unknown key(s) bse"),
        ({"destinations": {"d": {}}}, "base (the FHIR base URL) is missing"),
        ({"destinations": {"d": {"base": "ftp://d"}}}, "is not an http(s) URL"),
        ({"workers": {}}, "unknown key(s) workers"),
        ({"worker": {"lease": "long"}}, "a number of seconds"),
        ({"worker": {"concurrency": 0}}, "concurrency: at least 1"),
        ({"destinations": {"d": {"base": "http://d", "max_attempts": 0}}}, "at least 1"),
        ({"destinations": {"d": {"base": "http://d", "auth": {"type": "basic"}}}}, "bearer or"),
        (
            {"destinations": {"d": {"base": "http://d", "auth": {"type": "bearer"}}}},
            "token or token_env is missing",
        ),
        (
            {
                "destinations": {
                    "d": {"base": "http://d", "auth": {"type": "bearer", "token_env": "NOPE_X"}}
                }
            },
            "NOPE_X is not set",
        ),
        (
            {"destinations": {"d": {"base": "http://d", "auth": {"type": "client-credentials"}}}},
            "token_url is missing",
        ),
        (
            {"worker": {"lease": 10}, "destinations": {"d": {"base": "http://d", "timeout": 10}}},
            "must be longer than the timeout",
        ),
        (
            {"destinations": {"d": {"base": "http://d", "categories": "18719-5"}}},
            "a list of strings",
        ),
    ],
)
def test_a_configuration_that_cannot_be_used_is_refused(document: dict, message: str) -> None:
    with pytest.raises(
        ForwardingConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        parse_config(document, environ={})


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ForwardingConfigError, match="missing.toml"):
        load_config(Settings(forward_config=tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[worker\n", encoding="utf-8")
    with pytest.raises(ForwardingConfigError, match="broken.toml"):
        load_config(Settings(forward_config=broken))
