"""Honest answers from entry points whose behaviour has not been built yet."""

from __future__ import annotations

from flask import Response

from ..domain.errors import DomainError, ErrorCode
from .responses import error_response


def not_implemented(function_name: str, reason: str) -> Response:
    return error_response(DomainError(ErrorCode.NOT_IMPLEMENTED, f"{function_name}: {reason}."))
