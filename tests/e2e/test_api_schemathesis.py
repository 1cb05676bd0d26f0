"""Property-based run of the OpenAPI document against the running api (schemathesis).

Bounded: a fixed number of examples per operation. Every response must be no server error,
have a documented status, content type, headers and body, and schema-invalid requests must be
rejected with a 4xx.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from qgen.http.openapi import openapi_document
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import bearer

pytestmark = pytest.mark.e2e

schema = schemathesis.openapi.from_dict(openapi_document())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def base_url(api: httpx.Client) -> str:
    return str(api.base_url).rstrip("/")


@schema.auth()
class FreshFirebaseUser:
    """A valid emulator ID token for a new user per example, so per-user limits do not mask
    the paths behind them (the limits are tested in test_api_http.py). Schemathesis still
    sends requests without it when it tests the security requirement itself."""

    def get(self, case: Any, context: Any) -> str:
        return "unused"

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), **bearer(f"fuzz-{uuid.uuid4().hex[:12]}")}


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_document(case: Any, base_url: str) -> None:
    # A fresh address per example for the same reason as the fresh user.
    octets = uuid.uuid4().bytes
    headers = {"X-Forwarded-For": f"198.18.{octets[0]}.{octets[1]}"}
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
