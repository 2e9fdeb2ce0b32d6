"""The clinician's pages: routes, rendering, and the answers to errors (HTML, in French).

Thin: each route reads its parameters, asks the store or `bridge.results`, and renders
a template; the modules beside this one turn FHIR into what the templates show. Every
page goes out with a strict Content-Security-Policy (this site's own script files and
stylesheets only, no inline script, nothing from another origin; style attributes are
allowed for the lab's narrative, whose values the sanitiser restricts and which could
not load anything anyway) and is not cached.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bridge import results
from bridge.api.observability import report_unexpected
from bridge.api.outcomes import (
    STATUS,
    ApiError,
    FhirResponse,
    allowed_methods,
    is_fhir_path,
    outcome,
)
from bridge.api.requests import read_body
from bridge.api.state import app_state
from bridge.errors import BridgeError
from bridge.pages import access
from bridge.pages.formatting import format_date
from bridge.pages.history import read_series
from bridge.pages.patients import PatientView, find_patients, patient_reports, patient_view
from bridge.pages.printing import STATIC_BASE, to_pdfa
from bridge.pages.reports import attached_pdf, effective, pdf_copy, report_view
from bridge.results.reports import replacement_of
from bridge.store import ResourceDeleted, ResourceNotFound

__all__ = ["install", "router"]

_FILES = resources.files("bridge.pages")
templates = Jinja2Templates(directory=str(_FILES / "templates"))

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "style-src-attr 'unsafe-inline'; "  # the narrative's own (sanitised) style attributes
        "object-src 'self'; frame-src 'self'; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
UNIT_SYSTEMS = {"SI": "Unités SI", "conventional": "Unités conventionnelles"}
_MESSAGES = {
    400: ("Demande incomplète", "La page demandée n'a pas pu être comprise."),
    403: ("Accès refusé", "Vos identifiants ne permettent pas de voir cette page."),
    404: ("Page introuvable", "Ce patient, ce compte rendu ou cette page n'existe pas."),
    405: ("Action impossible", "Cette page se consulte ; elle ne se modifie pas."),
    410: ("Supprimé", "Ce document a été supprimé."),
    500: ("Erreur du serveur", "Une erreur inattendue s'est produite ; elle a été journalisée."),
}


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    context = {"signed_in": access.COOKIE in request.cookies, **context}
    return templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=SECURITY_HEADERS
    )


def error_page(request: Request, status: int, detail: str = "", **shown: Any) -> Response:
    """The French page of an error; `shown` may replace its `title` and `message`, and
    add a `link` (href, text) to where the reader should go instead."""
    title, message = _MESSAGES.get(status, (f"Erreur {status}", ""))
    context = {"title": title, "message": message, "detail": detail, "status": status, **shown}
    return render(request, "error.html", context, status_code=status)


class PageRoute(APIRoute):
    """Errors on a page are pages: a sign-in form when credentials are missing, a
    French message for a missing patient or report, never FHIR JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except access.SignInRequired as exc:
                query = urlencode({"suite": exc.target})
                return RedirectResponse(f"/signin?{query}", status_code=303)
            except RequestValidationError:  # a query parameter of the wrong kind
                return error_page(request, 400)
            except BridgeError as exc:
                status = STATUS.get(exc.code, (422, ""))[0]
                technical = status not in (404, 410) and status < 500  # what was not understood
                return error_page(request, status, str(exc) if technical else "")
            except Exception as exc:  # logged without the path: it names a patient
                error_id = report_unexpected(exc, request.scope)
                return error_page(request, 500, f"référence de l'erreur : {error_id}")

        return handle


router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def patients(request: Request, q: str = "", suite: str | None = None) -> Response:
    access.reader(request)
    found, next_cursor = find_patients(app_state(request).store, q, suite)
    more = f"/?{urlencode({'q': q, 'suite': next_cursor})}" if next_cursor else None
    return render(request, "patients.html", {"q": q, "patients": found, "more": more})


def _patient(request: Request, patient_id: str) -> PatientView:
    return patient_view(app_state(request).store.read("Patient", patient_id).resource())


def _subject(request: Request, patient_id: str | None) -> PatientView | None:
    """A report's patient for its banner (none when the report names no readable one)."""
    try:
        return _patient(request, patient_id) if patient_id else None
    except (ResourceNotFound, ResourceDeleted):
        return None


@router.get("/patients/{patient_id}")
def patient(request: Request, patient_id: str, suite: str | None = None) -> Response:
    access.reader(request)
    shown = _patient(request, patient_id)
    reports, next_cursor = patient_reports(app_state(request).store, patient_id, suite)
    more = f"/patients/{patient_id}?{urlencode({'suite': next_cursor})}" if next_cursor else None
    context = {"patient": shown, "reports": reports, "more": more, "first": suite is None}
    return render(request, "patient.html", context)


@router.get("/patients/{patient_id}/history")
def history(
    request: Request,
    patient_id: str,
    code: Annotated[str, Query()] = "",
    unit_system: Annotated[str | None, Query(alias="unit-system")] = None,
) -> Response:
    access.reader(request)
    if not code:
        raise ApiError("invalid-request", "l'analyse (code) manque")
    if unit_system not in (None, "", *UNIT_SYSTEMS):
        raise ApiError("invalid-request", f"système d'unités inconnu : {unit_system}")
    state = app_state(request)
    shown = _patient(request, patient_id)
    bundle = results.series(
        state.store, state.terminology, patient_id, code, unit_system=unit_system or None
    )
    switch = [
        (label, f"?{urlencode({'code': code, 'unit-system': key})}", key == unit_system)
        for key, label in UNIT_SYSTEMS.items()
    ]
    switch.insert(0, ("Unité par défaut", f"?{urlencode({'code': code})}", not unit_system))
    context = {
        "patient": shown,
        "history": read_series(state.store, bundle, code, state.terminology.jdv()),
        "code": code,
        "switch": switch,
    }
    return render(request, "history.html", context)


def _report(request: Request, report_id: str) -> dict[str, Any]:
    return app_state(request).store.read("DiagnosticReport", report_id).resource()


@router.get("/reports/{report_id}")
def report(request: Request, report_id: str) -> Response:
    access.reader(request)
    store = app_state(request).store
    try:
        found = _report(request, report_id)
    except ResourceDeleted:  # a corrected report took its place: say so, and where it is
        replacement = replacement_of(store, report_id)
        if replacement is None:
            raise
        day = format_date(effective(replacement), time=False)
        return error_page(
            request,
            410,
            title="Compte rendu remplacé",
            message="Le laboratoire a remplacé ce compte rendu par une nouvelle version"
            + (f" (prélèvement du {day})." if day else "."),
            link={
                "href": f"/reports/{replacement['id']}",
                "text": "Ouvrir le compte rendu en vigueur",
            },
        )
    shown = report_view(store, found)
    subject = _subject(request, shown.patient_id)
    return render(request, "report.html", {"report": shown, "patient": subject})


def _filename(report: dict[str, Any]) -> str:
    day = (effective(report) or "")[:10]
    return f"compte-rendu-biologie-{day or report['id'][:8]}.pdf"


def _pdf(data: bytes, filename: str, *, download: bool = False) -> Response:
    disposition = "attachment" if download else "inline"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "frame-ancestors 'self'",
    }
    return Response(data, media_type="application/pdf", headers=headers)


@router.get("/reports/{report_id}/pdf")
def report_pdf(request: Request, report_id: str, download: bool = False) -> Response:
    """The report's PDF copy, raw (embedded by the report page, or downloaded)."""
    access.reader(request)
    found = _report(request, report_id)
    data = pdf_copy(app_state(request).store, found)
    if data is None:
        return error_page(request, 404, "Ce compte rendu n'a pas de copie PDF.")
    return _pdf(data, _filename(found), download=download)


@router.get("/reports/{report_id}/attachments/{document_id}")
def report_attachment(
    request: Request, report_id: str, document_id: str, download: bool = False
) -> Response:
    """A PDF the report carries besides its copy (a second-line laboratory's report)."""
    access.reader(request)
    found = _report(request, report_id)
    data = attached_pdf(app_state(request).store, found["id"], document_id)
    if data is None:
        return error_page(request, 404, "Ce compte rendu n'a pas ce document joint.")
    return _pdf(data, f"document-joint-{document_id[:8]}.pdf", download=download)


@router.get("/reports/{report_id}/print")
def report_print(request: Request, report_id: str) -> Response:
    """The PDF copy when there is one; else the report's rendering as PDF/A-1b."""
    access.reader(request)
    store = app_state(request).store
    found = _report(request, report_id)
    data = pdf_copy(store, found)
    if data is None:
        shown = report_view(store, found)
        subject = _subject(request, shown.patient_id)
        context = {"report": shown, "patient": subject, "static": STATIC_BASE}
        html = templates.get_template("print.html").render(context)
        data = to_pdfa(html)
    return _pdf(data, _filename(found))


@router.get("/signin")
def sign_in_form(request: Request, suite: str | None = None) -> Response:
    if app_state(request).auth.open:
        return RedirectResponse(access.local_target(suite), status_code=303)
    return render(request, "signin.html", {"suite": access.local_target(suite), "error": ""})


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    body = await read_body(request, 8192, ("application/x-www-form-urlencoded",))
    try:
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
    except ValueError as exc:  # more fields than the form has: not our form
        raise ApiError("invalid-request", "the sign-in form has two fields") from exc
    key = (form.get("cle") or [""])[0].strip()
    target = access.local_target((form.get("suite") or ["/"])[0])
    auth = app_state(request).auth
    try:
        if not key:
            raise ApiError("unauthorized", "empty key")
        principal = await auth.token_principal(key)
        if not principal.can("read"):
            raise ApiError("forbidden", "no read scope")
    except ApiError:
        context = {"suite": target, "error": "Clé inconnue ou sans droit de lecture."}
        return render(request, "signin.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    access.remember(request, response, key)
    return response


@router.post("/signout")
def sign_out(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    access.forget(request, response)
    return response


async def _no_route(request: Request, exc: Exception) -> Response:
    """An address no route knows: a page saying so, FHIR JSON under /fhir."""
    if is_fhir_path(request.url.path):
        detail = getattr(exc, "detail", "Not Found")
        return FhirResponse(outcome("error", "not-found", str(detail)), status_code=404)
    return error_page(request, 404)


async def _wrong_method(request: Request, exc: Exception) -> Response:
    """A method a page does not take (DELETE /patients/…): a page saying so, with the
    methods it takes; FHIR JSON under /fhir."""
    allow = {"Allow": allowed_methods(request)}
    if is_fhir_path(request.url.path):
        detail = str(getattr(exc, "detail", "Method Not Allowed"))
        return FhirResponse(
            outcome("error", "not-supported", detail), status_code=405, headers=allow
        )
    response = error_page(request, 405)
    response.headers.update(allow)
    return response


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on the application."""
    app.include_router(router)
    app.mount("/static/pages", StaticFiles(directory=str(_FILES / "static")), name="pages-static")
    app.add_exception_handler(404, _no_route)  # by status: before the FHIR handler
    app.add_exception_handler(405, _wrong_method)
