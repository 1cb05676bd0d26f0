"""OpenAPI 3.1 description of the public API, generated from the pydantic schemas.

``docs/openapi.json`` is this document written out (``python -m qgen.http.openapi``); a test
keeps the file, the generator and the running app in agreement.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from ..domain.errors import ErrorCode
from .responses import STATUS_OF
from .schemas import CreateJobRequest, ErrorBody, Health, JobList, JobView

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    """Error responses grouped by HTTP status, listing which codes each status carries."""
    by_status: dict[str, list[str]] = {}
    for code in codes:
        by_status.setdefault(str(int(STATUS_OF[ErrorCode(code)])), []).append(code)
    responses = {}
    for status, status_codes in sorted(by_status.items()):
        response = _json(_ref("Error"), "Error codes: " + ", ".join(status_codes) + ".")
        if status in {"429", "503"}:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again, when known.",
                    "schema": {"type": "string"},
                }
            }
        responses[status] = response
    return responses


_COMMON = ("UNAUTHENTICATED", "AUTH_UNAVAILABLE", "INTERNAL", "METHOD_NOT_ALLOWED", "CONTENTION")
_JOB_ID_PARAM = {
    "name": "jobId",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The job id returned by POST /jobs.",
}
_BEARER: list[dict[str, list[str]]] = [{"firebase": []}]


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (CreateJobRequest, "validation"),
            (JobView, "serialization"),
            (JobList, "serialization"),
            (Health, "serialization"),
            (ErrorBody, "serialization"),
        ],
        ref_template=_REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Question generation API",
            "version": "1.0.0",
            "description": (
                "Submit what a learner wants to learn; quiz questions are generated in the "
                "background and appear in Firestore (generationJobs/{jobId}, questions). Every "
                'error body is {"error": {"code", "message", "details"?}} with a stable '
                "code."
            ),
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "firebase": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Firebase Authentication ID token.",
                }
            },
        },
        "paths": {
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness check.",
                    "security": [],
                    "responses": {"200": _json(_ref("Health"), "The function is up.")},
                }
            },
            "/jobs": {
                "post": {
                    "operationId": "createJob",
                    "summary": "Start generating questions for a prompt.",
                    "security": _BEARER,
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
                            "description": (
                                "Makes a retried request return the same job for 24 hours. "
                                "1..255 visible ASCII characters, e.g. a UUID."
                            ),
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CreateJobRequest")}},
                    },
                    "responses": {
                        "202": {
                            **_json(_ref("Job"), "Accepted; the job is pending."),
                            "headers": {
                                "Location": {"schema": {"type": "string"}},
                                "Idempotent-Replayed": {
                                    "description": "'true' when an earlier request's job "
                                    "is returned.",
                                    "schema": {"type": "string"},
                                },
                            },
                        },
                        **_errors(
                            *_COMMON,
                            "INVALID_ARGUMENT",
                            "PROMPT_TOO_SHORT",
                            "PROMPT_TOO_LONG",
                            "CONCURRENCY_LIMIT",
                            "RATE_LIMITED",
                            "PAYLOAD_TOO_LARGE",
                            "UNSUPPORTED_MEDIA_TYPE",
                            "IDEMPOTENCY_KEY_REUSED",
                            "QUEUE_UNAVAILABLE",
                        ),
                    },
                },
                "get": {
                    "operationId": "listJobs",
                    "summary": "The caller's jobs, newest first.",
                    "security": _BEARER,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 50,
                                "default": 20,
                            },
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("JobList"), "The jobs."),
                        **_errors(*_COMMON, "INVALID_ARGUMENT"),
                    },
                },
            },
            "/jobs/{jobId}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "One of the caller's jobs.",
                    "security": _BEARER,
                    "parameters": [_JOB_ID_PARAM],
                    "responses": {
                        "200": _json(_ref("Job"), "The job."),
                        **_errors(*_COMMON, "NOT_FOUND"),
                    },
                }
            },
            "/jobs/{jobId}/cancel": {
                "post": {
                    "operationId": "cancelJob",
                    "summary": "Cancel a pending or processing job; saved questions are kept.",
                    "security": _BEARER,
                    "parameters": [_JOB_ID_PARAM],
                    "responses": {
                        "200": _json(_ref("Job"), "The job, now cancelled."),
                        **_errors(*_COMMON, "NOT_FOUND", "NOT_CANCELLABLE"),
                    },
                }
            },
            "/jobs/{jobId}/retry": {
                "post": {
                    "operationId": "retryJob",
                    "summary": (
                        "Re-run a job that failed with a temporary error (same job, new run); "
                        "subject to the same limits as creating one."
                    ),
                    "security": _BEARER,
                    "parameters": [_JOB_ID_PARAM],
                    "responses": {
                        "202": _json(_ref("Job"), "The job, pending again."),
                        **_errors(
                            *_COMMON,
                            "NOT_FOUND",
                            "NOT_RETRYABLE",
                            "CONCURRENCY_LIMIT",
                            "RATE_LIMITED",
                            "QUEUE_UNAVAILABLE",
                        ),
                    },
                }
            },
        },
    }


def main() -> None:
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
