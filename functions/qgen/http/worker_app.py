"""The worker function's HTTP edge: who may call, what body, which status for Cloud Tasks.

Cloud Tasks treats any 2xx as done and anything else as "deliver again with backoff", so a
retryable failure with deliveries left answers 503 and everything else answers 200.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from ..domain.errors import DomainError, ErrorCode
from ..services.worker import WorkerService
from .responses import error_response, json_response

log = logging.getLogger(__name__)


class TaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    job_id: StrictStr


class WorkerApp:
    def __init__(self, *, service: WorkerService, verify_caller: Callable[[Any], None]) -> None:
        self._service = service
        self._verify_caller = verify_caller

    def handle(self, request: Request) -> Response:
        try:
            if request.method != "POST":
                raise DomainError(ErrorCode.METHOD_NOT_ALLOWED, "POST a task to the worker.")
            self._verify_caller(request.headers)
            try:
                body = TaskBody.model_validate_json(request.get_data())
            except ValidationError as exc:
                # Redelivering a malformed task cannot fix it: 4xx ends it (logged).
                raise DomainError(
                    ErrorCode.INVALID_ARGUMENT, 'The task body must be {"jobId": "..."}.'
                ) from exc
            result = self._service.process(body.job_id)
        except DomainError as error:
            return error_response(error)
        except Exception:
            # Unexpected: let Cloud Tasks redeliver; the lease keeps a rerun safe.
            log.exception("worker crashed", extra={"event": "worker.internal_error"})
            return error_response(
                DomainError(ErrorCode.INTERNAL, "The worker failed unexpectedly.")
            )
        answer: dict[str, object] = {"outcome": result.outcome.value, "jobId": result.job_id}
        if result.error_code is not None:
            answer["errorCode"] = result.error_code.value
        return json_response(answer, 503 if result.retry else 200)
