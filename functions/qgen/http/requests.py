"""Reading a request: its JSON body within the size limit, its query parameters, its ids.

Everything a caller can get wrong becomes a DomainError with a stable code (a 4xx).
"""

from __future__ import annotations

import re
from typing import TypeVar

from flask import Request
from pydantic import BaseModel, ValidationError

from ..domain.errors import DomainError, ErrorCode

# What a job id can be: we issue 20 alphanumerics, so nothing else names a job. This also keeps
# out what Firestore refuses as a document id (".", "/", __.*__, > 1500 bytes): a 500 otherwise.
_JOB_ID = re.compile(r"(?!__.*__\Z)[A-Za-z0-9_-]{1,128}")
_DIGITS = re.compile(r"^[0-9]{1,4}$")

Body = TypeVar("Body", bound=BaseModel)


def json_body(request: Request, model: type[Body], *, limit: int) -> Body:
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    if request.mimetype != "application/json":
        raise DomainError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    # Read at most one byte past the limit so a body without Content-Length is bounded too.
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise invalid_body(exc) from exc


def too_large(limit: int) -> DomainError:
    return DomainError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The request body must be at most {limit} bytes.",
        details={"maxBytes": limit},
    )


def invalid_body(exc: ValidationError) -> DomainError:
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "body"
    kind = str(first.get("type", "invalid"))
    messages = {
        "json_invalid": "The body is not valid JSON.",
        "missing": f"'{field}' is required.",
        "extra_forbidden": f"Unknown field '{field}'.",
        "string_type": f"'{field}' must be a string.",
        "model_type": "The body must be a JSON object.",
        "model_attributes_type": "The body must be a JSON object.",
    }
    return DomainError(
        ErrorCode.INVALID_ARGUMENT,
        messages.get(kind, f"'{field}' is invalid."),
        details={"field": field, "reason": kind},
    )


def limit_param(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _DIGITS.match(raw):
        raise DomainError(
            ErrorCode.INVALID_ARGUMENT, "limit must be a whole number.", details={"field": "limit"}
        )
    return int(raw)


def valid_job_id(raw: str) -> str:
    if not _JOB_ID.fullmatch(raw):
        # Not a shape we ever issue, so it cannot name an existing job.
        raise DomainError(ErrorCode.NOT_FOUND, "No such job.")
    return raw
