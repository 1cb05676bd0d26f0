"""The HTTP edge shared by the private functions (worker, cleanup): POST only, the caller
checked (Cloud Tasks or Cloud Scheduler), a strict JSON body, errors as JSON with stable codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from ..domain.errors import DomainError, ErrorCode
from .responses import error_response

log = logging.getLogger(__name__)

Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True)
class PrivateEndpoint(Generic[Body]):
    name: str  # "worker" or "cleanup": in messages and log events
    body: type[Body]
    body_shape: str  # what a valid body looks like, for the 400 message
    verify_caller: Callable[[Any], None]
    # What an empty body means (the scheduler may send none); b"" makes it invalid.
    empty_body: bytes = b""

    def handle(self, request: Request, run: Callable[[Body], Response]) -> Response:
        try:
            if request.method != "POST":
                raise DomainError(ErrorCode.METHOD_NOT_ALLOWED, f"POST to the {self.name}.")
            self.verify_caller(request.headers)
            try:
                body = self.body.model_validate_json(request.get_data() or self.empty_body)
            except ValidationError as exc:
                # Sending a malformed body again cannot fix it: a 4xx ends it (logged).
                message = f"The body must be {self.body_shape}."
                raise DomainError(ErrorCode.INVALID_ARGUMENT, message) from exc
            return run(body)
        except DomainError as error:
            # Answered before any claim: Cloud Tasks (or Scheduler) spends a delivery on it
            # and the job does not count it, so the log must (the stale sweep counts it later).
            log.warning(
                error.message,
                extra={"event": f"{self.name}.refused", "errorCode": error.code.value},
            )
            return error_response(error)
        except Exception:
            # Unexpected: the caller retries (Cloud Tasks redelivers, Scheduler per its retry
            # config); the lease and the idempotent sweeps keep a rerun safe.
            log.exception(f"{self.name} crashed", extra={"event": f"{self.name}.internal_error"})
            message = f"The {self.name} failed unexpectedly."
            return error_response(DomainError(ErrorCode.INTERNAL, message))
