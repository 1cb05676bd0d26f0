"""Turning results and errors into JSON responses with stable codes."""

from __future__ import annotations

import json
from http import HTTPStatus

from flask import Response
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from ..domain.errors import DomainError, ErrorCode
from .schemas import ErrorBody, ErrorDetail

STATUS_OF: dict[ErrorCode, HTTPStatus] = {
    ErrorCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
    ErrorCode.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    ErrorCode.PROMPT_TOO_SHORT: HTTPStatus.BAD_REQUEST,
    ErrorCode.PROMPT_TOO_LONG: HTTPStatus.BAD_REQUEST,
    ErrorCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED: HTTPStatus.METHOD_NOT_ALLOWED,
    ErrorCode.NOT_CANCELLABLE: HTTPStatus.CONFLICT,
    ErrorCode.NOT_RETRYABLE: HTTPStatus.CONFLICT,
    ErrorCode.CONCURRENCY_LIMIT: HTTPStatus.TOO_MANY_REQUESTS,
    ErrorCode.RATE_LIMITED: HTTPStatus.TOO_MANY_REQUESTS,
    ErrorCode.BUDGET_EXCEEDED: HTTPStatus.TOO_MANY_REQUESTS,
    ErrorCode.PAYLOAD_TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.ORIGIN_NOT_ALLOWED: HTTPStatus.FORBIDDEN,
    ErrorCode.QUEUE_UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.AUTH_UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.CONTENTION: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.SERVICE_BUDGET_EXHAUSTED: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.NOT_IMPLEMENTED: HTTPStatus.NOT_IMPLEMENTED,
    ErrorCode.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def json_response(
    body: BaseModel | dict[str, object],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if isinstance(body, BaseModel):
        payload = body.model_dump_json(by_alias=True, exclude_none=True)
    else:
        payload = json.dumps(body)
    response = Response(payload, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: DomainError, headers: dict[str, str] | None = None) -> Response:
    body = ErrorBody(
        error=ErrorDetail(code=error.code, message=error.message, details=error.details or None)
    )
    extra = dict(headers or {})
    if error.retry_after_seconds is not None:
        extra["Retry-After"] = str(error.retry_after_seconds)
    return json_response(body, STATUS_OF[error.code], extra)


_CODE_OF_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_ARGUMENT,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def framework_error_response(error: HTTPException) -> Response:
    """JSON for what the web framework rejects before our function runs (e.g. unroutable paths)."""
    code = _CODE_OF_STATUS.get(error.code or 500, ErrorCode.INTERNAL)
    message = {
        ErrorCode.NOT_FOUND: "No such endpoint.",
        ErrorCode.INTERNAL: "Something went wrong on our side; try again.",
    }.get(code, error.description or code.value)
    return error_response(DomainError(code, message))
