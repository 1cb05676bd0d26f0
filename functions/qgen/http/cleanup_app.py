"""The cleanup function's HTTP edge: only Cloud Scheduler; body {"mode": "retention"|...}."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from ..domain.errors import DomainError, ErrorCode
from ..services.cleanup import CleanupMode, CleanupService
from .responses import error_response, json_response

log = logging.getLogger(__name__)


class CleanupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: CleanupMode = CleanupMode.ALL


class CleanupApp:
    def __init__(self, *, service: CleanupService, verify_caller: Callable[[Any], None]) -> None:
        self._service = service
        self._verify_caller = verify_caller

    def handle(self, request: Request) -> Response:
        try:
            if request.method != "POST":
                raise DomainError(ErrorCode.METHOD_NOT_ALLOWED, "POST to run the cleanup.")
            self._verify_caller(request.headers)
            raw = request.get_data() or b"{}"
            try:
                body = CleanupBody.model_validate_json(raw)
            except ValidationError as exc:
                raise DomainError(
                    ErrorCode.INVALID_ARGUMENT,
                    'The body must be {"mode": "retention" | "recovery" | "all"}.',
                ) from exc
            return json_response(self._service.run(body.mode))
        except DomainError as error:
            return error_response(error)
        except Exception:
            # Scheduler retries per its retry config; every step is safe to repeat.
            log.exception("cleanup crashed", extra={"event": "cleanup.internal_error"})
            return error_response(DomainError(ErrorCode.INTERNAL, "The cleanup failed."))
