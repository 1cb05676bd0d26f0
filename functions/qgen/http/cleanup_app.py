"""The cleanup function's HTTP edge: only Cloud Scheduler; body {"mode": "retention"|...}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Request, Response
from pydantic import BaseModel, ConfigDict

from ..services.cleanup import CleanupMode, CleanupService
from .private import PrivateEndpoint
from .responses import json_response


class CleanupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: CleanupMode = CleanupMode.ALL


class CleanupApp:
    def __init__(self, *, service: CleanupService, verify_caller: Callable[[Any], None]) -> None:
        self._service = service
        self._edge = PrivateEndpoint(
            "cleanup",
            CleanupBody,
            '{"mode": "retention" | "recovery" | "all"}',
            verify_caller,
            empty_body=b"{}",
        )

    def handle(self, request: Request) -> Response:
        return self._edge.handle(request, lambda body: json_response(self._service.run(body.mode)))
