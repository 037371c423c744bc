"""Schemathesis against the local stack's own GET /openapi.json, over real HTTP: for every operation of the
document, generated requests (valid and invalid by the document) must get no 5xx and answers that conform to the
document (status codes, content types, and every answer's body validated against its response schema: the
contract's objects in `api/openapi_schemas.py`, the `Error` shape), and requests the document forbids get a 4xx.

Left out: the "schema-valid data is accepted" check. A phone number, a number id or a cursor can match its
documented type and still be refused (`400 invalid_phone`, `404 number_not_configured`...): their validity needs
data no JSON schema holds (phonenumbers' tables, the configured numbers).

Operations that reconfigure the shared stack's numbers (PUT and DELETE /numbers/{number_id}) are left out: other
end-to-end tests rely on them, and their refusals are covered by the hostile-input suite."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, response_schema_conformance

from local_stack.stack import LocalStack

EXAMPLES = 25


def served_document(stack: LocalStack) -> dict[str, Any]:
    document = httpx.get(f"{stack.api_url}/openapi.json", headers={"x-api-key": stack.api_key}, timeout=30)
    document.raise_for_status()
    raw: dict[str, Any] = document.json()
    raw["servers"] = [{"url": stack.api_url}]
    return raw


@pytest.fixture(scope="module")
def api_schema(stack: LocalStack) -> Any:
    raw = served_document(stack)
    return schemathesis.openapi.from_dict(raw).exclude(method=["PUT", "DELETE"], path_regex=r"^/numbers/")


def test_answers_are_checked_against_their_schemas(stack: LocalStack) -> None:
    # Given the served document with the Health object made to require a field the gateway never answers
    raw = served_document(stack)
    raw["components"]["schemas"]["Health"]["required"] = ["status", "not_a_field"]
    operation = schemathesis.openapi.from_dict(raw)["/health"]["GET"]

    # Then the body check refuses GET /health's real answer
    case = operation.Case()
    with pytest.raises(BaseExceptionGroup) as refused:
        case.call_and_validate(base_url=stack.api_url, checks=[response_schema_conformance])
    assert '"not_a_field" is a required property' in str(refused.value.exceptions[0])


def test_every_operation_answers_as_its_document_says(api_schema: Any, stack: LocalStack) -> None:
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, "the document lists fewer operations than the API has"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=stack.api_url,
                headers={"x-api-key": stack.api_key},
                excluded_checks=[positive_data_acceptance],
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as failure:  # every operation is tried; all failures are reported
            failures[operation.label] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
