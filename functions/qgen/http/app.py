"""The public API: one HTTP function, routes inside.

This module only translates HTTP to use-case calls and back; every rule lives in the
services and the domain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from ..config import Settings
from ..domain.errors import DomainError, ErrorCode
from ..domain.limits import client_ip
from ..services.devices import DevicesService
from ..services.jobs import CreateRequest, JobService
from .openapi import openapi_document
from .requests import json_body, limit_param, valid_job_id
from .responses import error_response, json_response
from .schemas import (
    CreateJobRequest,
    DevicesView,
    Health,
    JobList,
    JobView,
    NotificationSettingsRequest,
    RegisterDeviceRequest,
)

log = logging.getLogger(__name__)

_ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
_EXPOSED_HEADERS = "Retry-After, Idempotent-Replayed"

_ROUTES = Map(
    [
        Rule("/healthz", endpoint="health", methods=["GET"]),
        Rule("/openapi.json", endpoint="openapi", methods=["GET"]),
        Rule("/limits", endpoint="limits", methods=["GET"]),
        Rule("/devices", endpoint="list_devices", methods=["GET"]),
        Rule("/devices", endpoint="register_device", methods=["POST"]),
        Rule("/devices/<device_id>", endpoint="remove_device", methods=["DELETE"]),
        Rule("/notification-settings", endpoint="notification_settings", methods=["PUT"]),
        Rule("/jobs", endpoint="list_jobs", methods=["GET"]),
        Rule("/jobs", endpoint="create_job", methods=["POST"]),
        Rule("/jobs/<job_id>", endpoint="get_job", methods=["GET"]),
        Rule("/jobs/<job_id>/cancel", endpoint="cancel_job", methods=["POST"]),
        Rule("/jobs/<job_id>/retry", endpoint="retry_job", methods=["POST"]),
    ],
    # "//" in a path is not merged into a route of its own: /jobs///cancel names no job.
    strict_slashes=False,
    merge_slashes=False,
)
# What a browser may call, as the routes declare it (a preflight names one method).
_ALLOWED_METHODS = ", ".join(
    sorted({m for rule in _ROUTES.iter_rules() for m in rule.methods or ()} | {"OPTIONS"})
)

# Anything else in the query string is refused, as unknown body fields are.
_QUERY_PARAMETERS: dict[str, set[str]] = {"list_jobs": {"limit"}}

Verifier = Callable[[str | None], str]


class ApiApp:
    def __init__(
        self,
        *,
        service: JobService,
        settings: Settings,
        verify_user: Verifier,
        devices: DevicesService | None = None,
    ) -> None:
        self._service = service
        self._devices = devices or DevicesService(uow=service.uow, clock=service.clock)
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
        except (NotFound, RequestRedirect) as exc:  # no route, or one only after a redirect
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
        response.headers["Access-Control-Allow-Methods"] = _ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "3600"
        return response

    # ----- endpoints -----------------------------------------------------------------------

    def _health(self, request: Request) -> Response:
        return json_response(Health())

    def _openapi(self, request: Request) -> Response:
        return json_response(openapi_document())

    def _limits(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        return json_response(self._service.limits(user_id))

    def _list_devices(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        return json_response(DevicesView.of(self._devices.list(user_id)))

    def _register_device(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        body = json_body(request, RegisterDeviceRequest, limit=self._settings.max_body_bytes)
        return json_response(DevicesView.of(self._devices.register(user_id, body.token)), 201)

    def _remove_device(self, request: Request, device_id: str) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        return json_response(DevicesView.of(self._devices.remove(user_id, device_id)))

    def _notification_settings(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        limit = self._settings.max_body_bytes
        body = json_body(request, NotificationSettingsRequest, limit=limit)
        switched = self._devices.switch(user_id, enabled=body.notifications_enabled)
        return json_response(DevicesView.of(switched))

    def _list_jobs(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        jobs = self._service.list(user_id, limit_param(request.args.get("limit")))
        return json_response(JobList(jobs=[JobView.of(j) for j in jobs]))

    def _create_job(self, request: Request) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        body = json_body(request, CreateJobRequest, limit=self._settings.max_body_bytes)
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
        return json_response(JobView.of(self._service.get(user_id, valid_job_id(job_id))))

    def _cancel_job(self, request: Request, job_id: str) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        return json_response(JobView.of(self._service.cancel(user_id, valid_job_id(job_id))))

    def _retry_job(self, request: Request, job_id: str) -> Response:
        user_id = self._verify_user(request.headers.get("Authorization"))
        stored = self._service.retry(user_id, valid_job_id(job_id), self._client_ip(request))
        return json_response(JobView.of(stored), 202, {"Location": f"/jobs/{stored.job_id}"})

    def _client_ip(self, request: Request) -> str:
        return client_ip(
            request.headers.get("X-Forwarded-For"),
            request.remote_addr,
            trusted_hops=self._settings.trusted_proxy_hops,
        )
