"""A real FHIR terminology server on loopback, standing in for the SMT in the tests.

A small FastAPI app served by uvicorn in a thread, on a free port: the SMT client
talks to it over HTTP exactly as it would to smt.esante.gouv.fr. Behaviours are set
per test (`server.behaviour`) to inject failures: slow answers (timeouts), 5xx, 401,
malformed bodies. `server.calls` counts the requests that reached it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.serving import Serving

TOKEN = "token-for-tests"


@dataclass
class Behaviour:
    fail_with: int | None = None  # answer this status…
    fail_times: int = 0  # …this many times, then behave
    delay: float = 0.0  # seconds before answering (longer than the client's timeout)
    malformed: bool = False
    require_token: bool = False
    token_rejections: int = 0  # 401 this many times even with a token


@dataclass
class FakeSmt:
    host: str = "127.0.0.1"
    port: int = 0
    behaviour: Behaviour = field(default_factory=Behaviour)
    calls: Counter[str] = field(default_factory=Counter)
    translations: dict[str, dict[str, Any]] = field(default_factory=dict)  # code → Parameters
    value_sets: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    expand_requests: list[tuple[int, int]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}/fhir"

    @property
    def token_url(self) -> str:
        return f"http://{self.host}:{self.port}/token"


def build_app(smt: FakeSmt) -> FastAPI:
    app = FastAPI()

    async def gate(request: Request, operation: str) -> Response | None:
        smt.calls[operation] += 1
        b = smt.behaviour
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.require_token:
            auth = request.headers.get("authorization")
            if auth != f"Bearer {TOKEN}" or b.token_rejections > 0:
                b.token_rejections = max(0, b.token_rejections - 1)
                return JSONResponse(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "login"}],
                    },
                    status_code=401,
                )
        if b.fail_with and b.fail_times > 0:
            b.fail_times -= 1
            return JSONResponse(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "transient"}],
                },
                status_code=b.fail_with,
            )
        if b.malformed:
            return Response("<html>maintenance</html>", media_type="application/fhir+json")
        return None

    @app.get("/fhir/ConceptMap/$translate")
    async def translate(request: Request) -> Response:
        blocked = await gate(request, "translate")
        if blocked is not None:
            return blocked
        code = request.query_params.get("code") or request.query_params.get("sourceCode", "")
        answer = smt.translations.get(code) or {
            "resourceType": "Parameters",
            "parameter": [{"name": "result", "valueBoolean": False}],
        }
        return JSONResponse(answer, media_type="application/fhir+json")

    @app.get("/fhir/CodeSystem/$lookup")
    async def lookup(request: Request) -> Response:
        blocked = await gate(request, "lookup")
        if blocked is not None:
            return blocked
        code = request.query_params.get("code", "")
        return JSONResponse(
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "name", "valueString": "LOINC"},
                    {"name": "display", "valueString": f"Libellé SMT de {code}"},
                ],
            },
            media_type="application/fhir+json",
        )

    @app.get("/fhir/ValueSet/$expand")
    async def expand(request: Request) -> Response:
        blocked = await gate(request, "expand")
        if blocked is not None:
            return blocked
        url = request.query_params["url"]
        offset = int(request.query_params.get("offset", 0))
        count = int(request.query_params.get("count", 100))
        smt.expand_requests.append((offset, count))
        concepts = smt.value_sets[url]
        return JSONResponse(
            {
                "resourceType": "ValueSet",
                "url": url,
                "version": "2025",
                "status": "active",
                "expansion": {
                    "timestamp": "2025-09-01T00:00:00Z",
                    "total": len(concepts),
                    "offset": offset,
                    "contains": concepts[offset : offset + count],
                },
            },
            media_type="application/fhir+json",
        )

    @app.post("/token")
    async def token(request: Request) -> Response:
        smt.calls["token"] += 1
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if (
            form.get("client_id") != "user-api"
            or form.get("grant_type") != "password"
            or form.get("password") != "secret"
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=401)
        return JSONResponse({"access_token": TOKEN, "expires_in": 300})

    return app


class Running(Serving):
    """uvicorn serving the fake SMT in a thread, for the duration of a `with` block."""

    def __init__(self, smt: FakeSmt) -> None:
        super().__init__(build_app(smt), lifespan="off")
        smt.port = self.port
        self.smt = smt

    def __enter__(self) -> FakeSmt:  # type: ignore[override]
        super().__enter__()
        return self.smt
