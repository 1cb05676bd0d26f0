"""OpenAPI 3.1 description of the public API, generated from the pydantic schemas.

``docs/openapi.json`` is this document written out (``python -m qgen.http.openapi``); a test
keeps the file, the generator and the running app in agreement.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from ..services.allowance import Allowance
from .openapi_devices import device_paths
from .openapi_parts import BEARER, COMMON, JOB_ID_PARAM, REF, errors, json_content, ref
from .schemas import (
    CreateJobRequest,
    DevicesView,
    ErrorBody,
    Health,
    JobList,
    JobView,
    NotificationSettingsRequest,
    RegisterDeviceRequest,
)


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (CreateJobRequest, "validation"),
            (JobView, "serialization"),
            (JobList, "serialization"),
            (Health, "serialization"),
            (Allowance, "serialization"),
            (DevicesView, "serialization"),
            (RegisterDeviceRequest, "validation"),
            (NotificationSettingsRequest, "validation"),
            (ErrorBody, "serialization"),
        ],
        ref_template=REF,
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
                    "responses": {"200": json_content(ref("Health"), "The function is up.")},
                }
            },
            "/jobs": {
                "post": {
                    "operationId": "createJob",
                    "summary": "Start generating questions for a prompt.",
                    "security": BEARER,
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
                        "content": {"application/json": {"schema": ref("CreateJobRequest")}},
                    },
                    "responses": {
                        "202": {
                            **json_content(ref("JobView"), "Accepted; the job is pending."),
                            "headers": {
                                "Location": {"schema": {"type": "string"}},
                                "Idempotent-Replayed": {
                                    "description": "'true' when an earlier request's job "
                                    "is returned.",
                                    "schema": {"type": "string"},
                                },
                            },
                        },
                        **errors(
                            *COMMON,
                            "INVALID_ARGUMENT",
                            "PROMPT_TOO_SHORT",
                            "PROMPT_TOO_LONG",
                            "CONCURRENCY_LIMIT",
                            "RATE_LIMITED",
                            "PAYLOAD_TOO_LARGE",
                            "UNSUPPORTED_MEDIA_TYPE",
                            "IDEMPOTENCY_KEY_REUSED",
                            "BUDGET_EXCEEDED",
                            "QUEUE_UNAVAILABLE",
                            "SERVICE_BUDGET_EXHAUSTED",
                        ),
                    },
                },
                "get": {
                    "operationId": "listJobs",
                    "summary": "The caller's jobs, newest first.",
                    "security": BEARER,
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
                        "200": json_content(ref("JobList"), "The jobs."),
                        **errors(*COMMON, "INVALID_ARGUMENT"),
                    },
                },
            },
            "/limits": {
                "get": {
                    "operationId": "getLimits",
                    "summary": "What the caller may still do: active jobs, this hour's jobs, "
                    "today's token budget.",
                    "security": BEARER,
                    "responses": {
                        "200": json_content(
                            ref("Allowance"), "The caller's limits and what is used."
                        ),
                        **errors(*COMMON),
                    },
                }
            },
            **device_paths(),
            "/jobs/{jobId}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "One of the caller's jobs.",
                    "security": BEARER,
                    "parameters": [JOB_ID_PARAM],
                    "responses": {
                        "200": json_content(ref("JobView"), "The job."),
                        **errors(*COMMON, "NOT_FOUND"),
                    },
                }
            },
            "/jobs/{jobId}/cancel": {
                "post": {
                    "operationId": "cancelJob",
                    "summary": "Cancel a pending or processing job; saved questions are kept.",
                    "security": BEARER,
                    "parameters": [JOB_ID_PARAM],
                    "responses": {
                        "200": json_content(ref("JobView"), "The job, now cancelled."),
                        **errors(*COMMON, "NOT_FOUND", "NOT_CANCELLABLE"),
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
                    "security": BEARER,
                    "parameters": [JOB_ID_PARAM],
                    "responses": {
                        "202": json_content(ref("JobView"), "The job, pending again."),
                        **errors(
                            *COMMON,
                            "NOT_FOUND",
                            "NOT_RETRYABLE",
                            "CONCURRENCY_LIMIT",
                            "RATE_LIMITED",
                            "BUDGET_EXCEEDED",
                            "QUEUE_UNAVAILABLE",
                            "SERVICE_BUDGET_EXHAUSTED",
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
