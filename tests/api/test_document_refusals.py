"""Documents the converter refuses reach HTTP clients as 422 OperationOutcomes, never 500s."""

from __future__ import annotations

import pytest

from tests.api.conftest import CDA, Api
from tests.builders import GLUCOSE_CODE, document, result

DEEP_TRANSLATIONS = GLUCOSE_CODE.replace(
    "</code>",
    '<translation code="1-8" codeSystem="2.16.840.1.113883.6.1">' * 1_200
    + "</translation>" * 1_200
    + "</code>",
)
REFUSED = {
    "too-deep": (document(result(code=DEEP_TRANSLATIONS)), "too-costly", "translations"),
    "rootless-template-id": (
        document(result())
        .replace(
            b'<templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>', b"<templateId/>"
        )
        .replace(b'<templateId root="1.2.250.1.213.1.1.1.1"/>', b""),
        "not-supported",
        "templateId without root",
    ),
}


@pytest.mark.parametrize("operation", ["$convert", "$ingest"])
@pytest.mark.parametrize("case", REFUSED)
def test_refused_documents_are_422(api: Api, case: str, operation: str) -> None:
    data, issue_type, named = REFUSED[case]
    response = api.http.post(f"/{operation}", content=data, headers=CDA)
    assert response.status_code == 422, response.text
    [issue] = response.json()["issue"]
    assert issue["code"] == issue_type
    assert named in issue["diagnostics"]
