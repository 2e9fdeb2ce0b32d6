"""Bearer tokens: hashed API keys with scopes, OIDC JWTs checked against a JWKS on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.api import oidc
from bridge.api.auth import hash_key
from bridge.settings import ApiKey, Settings, parse_api_keys
from bridge.store import Store
from tests.api.conftest import CDA, FHIR, Api, running_api
from tests.helpers import EXAMPLES
from tests.serving import Serving, free_port

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


# The issuer's keys: fetched off the event loop, cached, refreshed sparingly (item 10) ---


class Issuer:
    """A JWKS endpoint on loopback that counts its fetches, can be held (a slow issuer)
    until the test releases it, and can rotate its key."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.keys = {"test-key": key}
        self.fetches = 0
        self.holding = threading.Event()  # set: answers wait for `release`
        self.held = threading.Event()  # a fetch is waiting
        self.release = threading.Event()

    def jwks(self, request: Any) -> JSONResponse:  # sync: uvicorn runs it in a thread
        self.fetches += 1
        if self.holding.is_set():
            self.held.set()
            self.release.wait(30)
        keys = []
        for kid, key in self.keys.items():
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append(public | {"kid": kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": keys})


@pytest.fixture
def issuer(signing_key: rsa.RSAPrivateKey) -> Iterator[tuple[Issuer, str]]:
    server = Issuer(signing_key)
    with Serving(Starlette(routes=[Route("/certs", server.jwks)])) as serving:
        yield server, f"{serving.url}/certs"
        server.release.set()


def _oidc(store: Store, jwks_url: str, timeout: float = 5.0) -> Any:
    settings = Settings(
        offline=True,
        oidc_issuer=ISSUER,
        oidc_jwks_url=jwks_url,
        oidc_audience=AUDIENCE,
        oidc_timeout=timeout,
    )
    return running_api(store, settings)


def test_a_token_that_is_not_a_jwt_is_401_without_asking_the_issuer(
    store: Store, issuer: tuple[Issuer, str]
) -> None:
    server, url = issuer
    with _oidc(store, url) as api:
        response = api.http.get("/Patient", headers=bearer("a.b.c"))
        assert response.status_code == 401
        assert "not a JWT" in response.json()["issue"][0]["diagnostics"]
    assert server.fetches == 0


def test_an_unreachable_issuer_is_503_at_once_then_without_asking_again(store: Store) -> None:
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nobody = f"http://127.0.0.1:{free_port()}/certs"  # nothing listens there
    with _oidc(store, nobody) as api:
        for _ in range(2):  # the second is answered from the failure, not a new attempt
            response = api.http.get("/Patient", headers=bearer(token(signing)))
            assert response.status_code == 503, response.text
            issue = response.json()["issue"][0]
            assert issue["code"] == "transient"
            assert "signing keys cannot be fetched" in issue["diagnostics"]
            assert response.headers["retry-after"]


def test_a_slow_issuer_never_blocks_healthz(
    store: Store, issuer: tuple[Issuer, str], signing_key: rsa.RSAPrivateKey
) -> None:
    server, url = issuer
    server.holding.set()
    with _oidc(store, url) as api:
        answers: list[int] = []
        reader = threading.Thread(
            target=lambda: answers.append(
                api.http.get("/Patient", headers=bearer(token(signing_key))).status_code
            )
        )
        reader.start()
        assert server.held.wait(20), "the key fetch never reached the issuer"
        # The issuer holds the key fetch: the server still answers everything else.
        assert httpx.get(f"{api.url}/healthz", timeout=20).json() == {"status": "ok"}
        assert api.http.get("/metadata").status_code == 200
        assert answers == []  # the authenticated request is still waiting for the keys
        server.release.set()
        reader.join(20)
        assert answers == [200]


def test_an_issuer_slower_than_the_timeout_is_503(
    store: Store, issuer: tuple[Issuer, str], signing_key: rsa.RSAPrivateKey
) -> None:
    server, url = issuer
    server.holding.set()
    with _oidc(store, url, timeout=0.2) as api:
        response = api.http.get("/Patient", headers=bearer(token(signing_key)))
        assert response.status_code == 503
        assert "ReadTimeout" in response.json()["issue"][0]["diagnostics"]


def test_keys_are_cached_and_refreshed_for_an_unknown_kid_at_most_so_often(
    store: Store,
    issuer: tuple[Issuer, str],
    signing_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, url = issuer
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with _oidc(store, url) as api:
        for _ in range(3):
            assert api.http.get("/Patient", headers=bearer(token(signing_key))).status_code == 200
        assert server.fetches == 1  # one fetch, then the cache
        server.keys["rotated"] = rotated
        new = jwt.encode(
            jwt.decode(token(signing_key), options={"verify_signature": False}),
            rotated,
            algorithm="RS256",
            headers={"kid": "rotated"},
        )
        refused = api.http.get("/Patient", headers=bearer(new))
        assert refused.status_code == 401  # an unknown kid, within REFRESH_INTERVAL
        assert server.fetches == 1
        monkeypatch.setattr(oidc, "REFRESH_INTERVAL", 0.0)  # as if the interval had passed
        assert api.http.get("/Patient", headers=bearer(new)).status_code == 200
        assert server.fetches == 2
