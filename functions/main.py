"""Cloud Functions entry points. Thin by design: all behaviour lives in the qgen package."""

from __future__ import annotations

import functions_framework
from flask import Request, Response
from qgen.http.responses import framework_error_response
from qgen.logs import set_trace_from_header
from qgen.wiring import api_app, cleanup_app, worker_app
from werkzeug.exceptions import HTTPException


@functions_framework.http
def api(request: Request) -> Response:
    set_trace_from_header(request.headers.get("X-Cloud-Trace-Context"))
    return api_app().handle(request)


@functions_framework.http
def process_job(request: Request) -> Response:
    set_trace_from_header(request.headers.get("X-Cloud-Trace-Context"))
    return worker_app().handle(request)


@functions_framework.http
def cleanup_jobs(request: Request) -> Response:
    set_trace_from_header(request.headers.get("X-Cloud-Trace-Context"))
    return cleanup_app().handle(request)


# Requests the framework refuses before routing to a function (a path it cannot match, a
# method it does not serve) get the same JSON error shape as everything else.
functions_framework.errorhandler(HTTPException)(framework_error_response)
