"""Who may see the pages: the API's own credentials, carried by a sign-in cookie.

The pages show patient data, so they ask what the API asks. Without credentials
configured (a loopback-only server) they are open, like the API. Otherwise the
sign-in form takes an API key (or an OIDC access token), checks it with the API's
`Authenticator` (read scope) and keeps it in a cookie the page scripts cannot read
(HttpOnly), that the browser sends only to this site's own pages (SameSite=Strict),
only over HTTPS when the site is served over HTTPS (Secure), and that ends with the
browser session. A client that sends an `Authorization: Bearer` header is checked the
same way. The pages only read; sign-in and sign-out are POST forms.
"""

from __future__ import annotations

from anyio import from_thread
from fastapi import Request
from starlette.responses import Response

from bridge.api.auth import Principal
from bridge.api.outcomes import ApiError
from bridge.api.state import app_state

__all__ = ["COOKIE", "SignInRequired", "forget", "local_target", "reader", "remember"]

COOKIE = "crbio_pages"


class SignInRequired(Exception):
    """The page needs credentials the request does not carry (or that are refused)."""

    def __init__(self, target: str, message: str = "") -> None:
        super().__init__(message)
        self.target = target


def local_target(value: str | None) -> str:
    """Where to go after signing in: a path of this site, never another site.

    >>> local_target("/patients/1?x=2"), local_target("//evil.example"), local_target(None)
    ('/patients/1?x=2', '/', '/')
    """
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return value


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def reader(request: Request) -> Principal:
    """The signed-in reader of this request, or SignInRequired.

    Called by the pages' handlers, which run in worker threads: the check itself (an
    OIDC token may need the issuer's keys) runs on the event loop, never blocking it.
    """
    auth = app_state(request).auth
    token = request.cookies.get(COOKIE)
    try:
        if auth.open:
            return from_thread.run(auth.principal, request)
        if token:
            principal = from_thread.run(auth.token_principal, token)
        elif request.headers.get("authorization"):
            principal = from_thread.run(auth.principal, request)
        else:
            raise SignInRequired(_here(request))
    except ApiError as exc:
        raise SignInRequired(_here(request), "Cette clé n'est plus acceptée.") from exc
    if not principal.can("read"):
        raise SignInRequired(_here(request), "Cette clé ne permet pas de lire les résultats.")
    return principal


def _secure(request: Request) -> bool:
    return request.headers.get("x-forwarded-proto", request.url.scheme) == "https"


def remember(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def forget(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
