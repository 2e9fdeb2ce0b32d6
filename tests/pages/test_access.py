"""The pages ask for the API's credentials when the server has some configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.api.auth import hash_key
from bridge.settings import ApiKey, Settings
from tests.api.conftest import running_api
from tests.stores import open_test_store

READER, WRITER_ONLY = "reader-key-0123456789", "export-key-0123456789"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(
        offline=True,
        api_keys=(
            ApiKey("doctor", hash_key(READER), frozenset({"read"})),
            ApiKey("nothing", hash_key(WRITER_ONLY), frozenset({"export"})),
        ),
    )
    folder: Path = tmp_path_factory.mktemp("locked")
    with open_test_store("sqlite", folder) as store, running_api(store, settings) as api:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            yield client


def sign_in(client: httpx.Client, key: str, suite: str = "/") -> httpx.Response:
    return client.post("/signin", data={"cle": key, "suite": suite})


def test_pages_redirect_to_the_sign_in_form(locked: httpx.Client) -> None:
    response = locked.get("/patients/x?y=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?suite=%2Fpatients%2Fx%3Fy%3D1"
    form = locked.get(response.headers["location"])
    assert form.status_code == 200 and 'name="cle"' in form.text and 'method="post"' in form.text
    assert locked.get("/reports/x/print").status_code == 303
    assert locked.get("/static/pages/pages.css").status_code == 200  # no data in it


def test_a_wrong_key_or_one_without_read_scope_is_refused(locked: httpx.Client) -> None:
    for key in ("not-a-key", "", WRITER_ONLY):
        response = sign_in(locked, key)
        assert response.status_code == 401
        assert "Clé inconnue" in response.text and "set-cookie" not in response.headers


def test_sign_in_keeps_the_key_in_a_strict_http_only_cookie(locked: httpx.Client) -> None:
    with httpx.Client(base_url=str(locked.base_url), timeout=30) as browser:
        response = sign_in(browser, READER, "/?q=x")
        assert response.status_code == 303 and response.headers["location"] == "/?q=x"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "max-age" not in cookie and "expires" not in cookie  # ends with the session
        assert browser.get("/").status_code == 200
        assert browser.get("/fhir/Patient").status_code == 401  # the API wants its header
        out = browser.post("/signout")
        assert out.status_code == 303
        assert browser.get("/").status_code == 303


def test_a_bearer_header_opens_the_pages_too(locked: httpx.Client) -> None:
    assert locked.get("/", headers={"Authorization": f"Bearer {READER}"}).status_code == 200
    assert locked.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 303


def test_sign_in_never_sends_the_browser_to_another_site(locked: httpx.Client) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        with httpx.Client(base_url=str(locked.base_url), timeout=30) as browser:
            assert sign_in(browser, READER, target).headers["location"] == "/"


def test_a_form_or_a_parameter_of_the_wrong_shape_is_a_400_page(locked: httpx.Client) -> None:
    """More fields than the sign-in form has, or download=maybe: a French 400 page,
    never the 500 page."""
    crowded = locked.post(
        "/signin",
        content=f"cle={READER}&suite=/&a=1&b=2&c=3&d=4",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert crowded.status_code == 400 and crowded.headers["content-type"].startswith("text/html")
    headers = {"Authorization": f"Bearer {READER}"}
    for value in ("maybe", "", "%00"):
        answer = locked.get(f"/reports/any-report/pdf?download={value}", headers=headers)
        assert answer.status_code == 400, (value, answer.status_code)
        assert "Demande incomplète" in answer.text
