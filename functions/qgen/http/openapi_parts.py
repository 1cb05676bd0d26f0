"""The pieces the OpenAPI document is built from: references, JSON bodies, error responses."""

from __future__ import annotations

from typing import Any

from ..domain.errors import ErrorCode
from .responses import STATUS_OF

REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*codes: str) -> dict[str, Any]:
    """Error responses grouped by HTTP status, listing which codes each status carries."""
    by_status: dict[str, list[str]] = {}
    for code in codes:
        by_status.setdefault(str(int(STATUS_OF[ErrorCode(code)])), []).append(code)
    responses = {}
    for status, status_codes in sorted(by_status.items()):
        response = json_content(ref("ErrorBody"), "Error codes: " + ", ".join(status_codes) + ".")
        if status in {"429", "503"}:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again, when known.",
                    "schema": {"type": "string"},
                }
            }
        responses[status] = response
    return responses


COMMON = (
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "AUTH_UNAVAILABLE",
    "INTERNAL",
    "METHOD_NOT_ALLOWED",
    "CONTENTION",
)
JOB_ID_PARAM = {
    "name": "jobId",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The job id returned by POST /jobs.",
}
BEARER: list[dict[str, list[str]]] = [{"firebase": []}]
