"""The public API: one HTTP function, routes inside.

This module only translates HTTP to use-case calls and back; every rule lives in the
services and the domain.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from flask import Request, Response
from pydantic import ValidationError
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from ..config import Settings
from ..domain.errors import DomainError, ErrorCode
from ..domain.limits import client_ip
from ..services.jobs import CreateRequest, JobService
from .openapi import openapi_document
from .responses import error_response, json_response
from .schemas import CreateJobRequest, Health, JobList, JobView

log = logging.getLogger(__name__)

# Firestore ids we hand out are 20 alphanumerics; anything outside this shape cannot exist.
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_DIGITS = re.compile(r"^[0-9]{1,4}$")
_ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
_EXPOSED_HEADERS = "Retry-After, Idempotent-Replayed"

_ROUTES = Map(
    [
        Rule("/healthz", endpoint="health", methods=["GET"]),
        Rule("/openapi.json", endpoint="openapi", methods=["GET"]),
        Rule("/jobs", endpoint="list_jobs", methods=["GET"]),
        Rule("/jobs", endpoint="create_job", methods=["POST"]),
        Rule("/jobs/<job_id>", endpoint="get_job", methods=["GET"]),
        Rule("/jobs/<job_id>/cancel", endpoint="cancel_job", methods=["POST"]),
        Rule("/jobs/<job_id>/retry", endpoint="retry_job", methods=["POST"]),
    ],
    strict_slashes=False,
)

# Anything else in the query string is refused, as unknown body fields are.
_QUERY_PARAMETERS: dict[str, set[str]] = {"list_jobs": {"limit"}}

Verifier = Callable[[str | None], str]


class ApiApp:
    def __init__(self, *, service: JobService, settings: Settings, verify_user: Verifier) -> None:
        self._service = service
        self._settings = settings
        self._verify_user = verify_user

    # ----- entry ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        cors = self._cors_headers(request)
        try:
            if request.method == "OPTIONS":
                response = self._preflight(cors)
            else:
                response = self._dispatch(request)
        except DomainError as error:
            response = error_response(error)
            if response.status_code >= 500:
                # Our side failed (queue, contention, key fetch): visible in the app's logs.
                log.warning(
                    error.message,
                    extra={
                        "event": "api.unavailable",
                        "errorCode": error.code.value,
                        "path": request.path,
                    },
                )
        except Exception:
            # The detail goes to the log only; the caller learns nothing about the internals.
            log.exception("unhandled error", extra={"event": "api.internal_error"})
            response = error_response(
                DomainError(ErrorCode.INTERNAL, "Something went wrong on our side; try again.")
            )
        response.headers.extend(cors)
        return response

    def _dispatch(self, request: Request) -> Response:
        adapter = _ROUTES.bind("api", path_info=request.path)
        try:
            endpoint, args = adapter.match(method=request.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            raise DomainError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed here; use {allowed}.",
                details={"allowed": sorted(exc.valid_methods or [])},
            ) from exc
        except NotFound as exc:
            raise DomainError(ErrorCode.NOT_FOUND, "No such endpoint.") from exc
        unknown = sorted(set(request.args) - _QUERY_PARAMETERS.get(endpoint, set()))
        if unknown:
            raise DomainError(
                ErrorCode.INVALID_ARGUMENT,
                f"Unknown query parameter '{unknown[0]}'.",
                details={"field": unknown[0]},
            )
        handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
        return handler(request, **args)

    # ----- CORS ----------------------------------------------------------------------------

    def _cors_headers(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if not origin or origin not in self._settings.cors_allowed_origins:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": _EXPOSED_HEADERS,
            "Vary": "Origin",
        }

    def _preflight(self, cors: dict[str, str]) -> Response:
        if "Access-Control-Allow-Origin" not in cors:
            raise DomainError(
                ErrorCode.ORIGIN_NOT_ALLOWED, "This origin may not call the API from a browser."
            )
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "3600"
        return response

    # ----- endpoints -----------------------------------------------------------------------

    def _health(self, request: Request) -> Response:
        return json_response(Health())

    def _openapi(self, request: Request) -> Response:
        return json_response(openapi_document())

    def _list_jobs(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        jobs = self._service.list(user_id, _limit_param(request.args.get("limit")))
        return json_response(JobList(jobs=[JobView.of(j) for j in jobs]))

    def _create_job(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        body = self._json_body(request, CreateJobRequest)
        admission = self._service.create(
            CreateRequest(
                user_id=user_id,
                prompt=body.prompt,
                client_ip=self._client_ip(request),
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        )
        headers = {"Location": f"/jobs/{admission.stored.job_id}"}
        if admission.replayed:
            headers["Idempotent-Replayed"] = "true"
        return json_response(JobView.of(admission.stored), 202, headers)

    def _get_job(self, request: Request, job_id: str) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        return json_response(JobView.of(self._service.get(user_id, _job_id(job_id))))

    def _cancel_job(self, request: Request, job_id: str) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        return json_response(JobView.of(self._service.cancel(user_id, _job_id(job_id))))

    def _retry_job(self, request: Request, job_id: str) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        stored = self._service.retry(user_id, _job_id(job_id), self._client_ip(request))
        return json_response(JobView.of(stored), 202, {"Location": f"/jobs/{stored.job_id}"})

    def _client_ip(self, request: Request) -> str:
        return client_ip(
            request.headers.get("X-Forwarded-For"),
            request.remote_addr,
            trusted_hops=self._settings.trusted_proxy_hops,
        )

    # ----- request parsing -----------------------------------------------------------------

    def _json_body(self, request: Request, model: type[CreateJobRequest]) -> CreateJobRequest:
        limit = self._settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        if request.mimetype != "application/json":
            raise DomainError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON with 'Content-Type: application/json'.",
            )
        # Read at most one byte past the limit so a body without Content-Length is bounded too.
        raw = request.stream.read(limit + 1)
        if len(raw) > limit:
            raise _too_large(limit)
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise _invalid_body(exc) from exc


def _too_large(limit: int) -> DomainError:
    return DomainError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The request body must be at most {limit} bytes.",
        details={"maxBytes": limit},
    )


def _invalid_body(exc: ValidationError) -> DomainError:
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


def _limit_param(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _DIGITS.match(raw):
        raise DomainError(
            ErrorCode.INVALID_ARGUMENT, "limit must be a whole number.", details={"field": "limit"}
        )
    return int(raw)


def _job_id(raw: str) -> str:
    if not _JOB_ID.match(raw):
        # Not a shape we ever issue, so it cannot name an existing job.
        raise DomainError(ErrorCode.NOT_FOUND, "No such job.")
    return raw
