"""The HTTPS API (docs/api.md). Every failure is an ApiError carrying the service's code."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx

from qgen_cli.auth import AuthError, TokenSource


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class Api:
    def __init__(self, base_url: str, tokens: TokenSource, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """`options`: httpx's (json, params, headers); the caller's ID token is added."""
        try:
            token = self.tokens.token()
        except AuthError as exc:
            raise ApiError(exc.code, exc.message) from exc
        try:
            request = self.http.build_request(method, path, **options)
            request.headers["Authorization"] = f"Bearer {token}"
            response = self.http.send(request)
        except httpx.HTTPError as exc:
            raise ApiError(
                "NETWORK", f"cannot reach the API at {self.base_url} ({exc or type(exc).__name__})"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise ApiError(
            str(error.get("code") or f"HTTP_{response.status_code}"),
            str(error.get("message") or response.reason_phrase or "unexpected answer"),
            response.status_code,
        )

    def create_job(self, prompt: str) -> dict[str, Any]:
        # The same key on a retried request returns the same job instead of a second one.
        return self._call(
            "POST", "/jobs", json={"prompt": prompt}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )

    def list_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self._call("GET", "/jobs", params={"limit": limit})["jobs"])

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{quote(job_id, safe='')}")

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/jobs/{quote(job_id, safe='')}/cancel")

    def limits(self) -> dict[str, Any]:
        return self._call("GET", "/limits")

    def retry_job(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/jobs/{quote(job_id, safe='')}/retry")
