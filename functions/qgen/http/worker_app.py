"""The worker function's HTTP edge: who may call, what body, which status for Cloud Tasks.

Cloud Tasks treats any 2xx as done and anything else as "deliver again with backoff", so a
retryable failure answers 200 once its next attempt is queued as a new task (the queue is not
slowed), and 503 — deliberate back-pressure — only when that task could not be created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, StrictStr
from pydantic.alias_generators import to_camel

from ..services.worker import WorkerService
from .private import PrivateEndpoint
from .responses import json_response


class TaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    job_id: StrictStr


class WorkerApp:
    def __init__(self, *, service: WorkerService, verify_caller: Callable[[Any], None]) -> None:
        self._service = service
        self._edge = PrivateEndpoint("worker", TaskBody, '{"jobId": "..."}', verify_caller)

    def handle(self, request: Request) -> Response:
        return self._edge.handle(request, self._process)

    def _process(self, body: TaskBody) -> Response:
        result = self._service.process(body.job_id)
        answer: dict[str, object] = {"outcome": result.outcome.value, "jobId": result.job_id}
        if result.error_code is not None:
            answer["errorCode"] = result.error_code.value
        return json_response(answer, 503 if result.retry else 200)
