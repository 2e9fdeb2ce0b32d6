"""Bearer tokens: hashed API keys with scopes, OIDC JWTs checked against a JWKS on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.api.auth import hash_key
from bridge.settings import ApiKey, Settings, parse_api_keys
from bridge.store import Store
from tests.api.conftest import CDA, FHIR, Api, running_api
from tests.helpers import EXAMPLES
from tests.serving import Serving

READER, WRITER = "reader-key-0b7e51c2", "writer-key-9d14aa07"
ISSUER = "https://auth.example.org/realms/sante"
AUDIENCE = "crbio-bridge"
PATIENT = {"resourceType": "Patient", "gender": "female"}


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """The issuer's published keys, served on loopback as a Keycloak realm would."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    keys = {"keys": [public | {"kid": "test-key", "use": "sig", "alg": "RS256"}]}
    app = Starlette(routes=[Route("/certs", lambda request: JSONResponse(keys))])
    with Serving(app) as server:
        yield f"{server.url}/certs"


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "lab-integration",
        "iat": now,
        "exp": now + 300,
        "scope": "system/*.read",
    } | claims
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "test-key"})


@pytest.fixture
def secured(store: Store, jwks_url: str) -> Iterator[Api]:
    settings = Settings(
        offline=True,
        api_keys=(
            ApiKey("reader", hash_key(READER), frozenset({"read"})),
            ApiKey("writer", hash_key(WRITER), frozenset({"read", "write"})),
        ),
        oidc_issuer=ISSUER,
        oidc_jwks_url=jwks_url,
        oidc_audience=AUDIENCE,
    )
    with running_api(store, settings) as api:
        yield api


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_without_a_token_everything_is_401_with_a_challenge(secured: Api) -> None:
    for method, path in [
        ("GET", "/Patient"),
        ("GET", "/Patient/x"),
        ("POST", "/Patient"),
        ("GET", "/ConceptMap/$translate"),
        ("POST", "/$ingest"),
    ]:
        response = secured.http.request(method, path, headers=FHIR)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["issue"][0]["code"] == "login"


def test_the_capability_statement_is_public_and_says_how_to_authenticate(secured: Api) -> None:
    statement = secured.http.get("/metadata").json()
    assert "Bearer" in statement["rest"][0]["security"]["description"]


def test_a_read_key_reads_and_cannot_write(secured: Api) -> None:
    assert secured.http.get("/Patient", headers=bearer(READER)).status_code == 200
    refused = secured.http.post("/Patient", json=PATIENT, headers=FHIR | bearer(READER))
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    ingest = secured.http.post(
        "/$ingest", content=(EXAMPLES / "trod-covid.xml").read_bytes(), headers=CDA | bearer(READER)
    )
    assert ingest.status_code == 403
    assert (
        secured.http.get(
            "/Observation", params={"_summary": "count"}, headers=bearer(READER)
        ).json()["total"]
        == 0
    )


def test_a_write_key_writes(secured: Api) -> None:
    created = secured.http.post("/Patient", json=PATIENT, headers=FHIR | bearer(WRITER))
    assert created.status_code == 201


def test_an_unknown_key_is_refused(secured: Api) -> None:
    assert secured.http.get("/Patient", headers=bearer("guessed")).status_code == 401
    assert (
        secured.http.get("/Patient", headers={"Authorization": f"Basic {READER}"}).status_code
        == 401
    )


def test_a_jwt_of_the_issuer_with_read_scope_reads_only(
    secured: Api, signing_key: rsa.RSAPrivateKey
) -> None:
    read_token = token(signing_key)
    assert secured.http.get("/Patient", headers=bearer(read_token)).status_code == 200
    assert (
        secured.http.post("/Patient", json=PATIENT, headers=FHIR | bearer(read_token)).status_code
        == 403
    )
    write_token = token(signing_key, scope="openid system/*.write")
    assert (
        secured.http.post("/Patient", json=PATIENT, headers=FHIR | bearer(write_token)).status_code
        == 201
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},
        {"iss": "https://someone-else.example.org"},
        {"aud": "another-service"},
    ],
    ids=["expired", "other-issuer", "other-audience"],
)
def test_jwts_that_do_not_hold_are_refused(
    secured: Api, signing_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    response = secured.http.get("/Patient", headers=bearer(token(signing_key, **claims)))
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_jwt_signed_by_another_key_is_refused(secured: Api) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = secured.http.get("/Patient", headers=bearer(token(stranger)))
    assert response.status_code == 401


def test_api_keys_are_configured_hashed() -> None:
    [key] = parse_api_keys(f"ingest:{hash_key(WRITER)}:read+write")
    assert key.name == "ingest" and key.scopes == {"read", "write"}
    assert WRITER not in repr(key)
    with pytest.raises(ValueError, match="sha256"):
        parse_api_keys(f"ingest:{WRITER}:read")
