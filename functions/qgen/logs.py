"""Structured JSON logs in Cloud Logging's format.

Cloud Functions forwards each stdout line; a JSON line becomes a structured entry whose
``severity`` sets the level and whose other fields are searchable (jsonPayload.jobId, ...).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from typing import Any

# Set per request from X-Cloud-Trace-Context so every line of a request joins its trace.
trace_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trace_context", default=None
)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, project_id: str) -> None:
        super().__init__()
        self._project_id = project_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        trace = trace_context.get()
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{self._project_id}/traces/{trace}"
        if record.exc_info:
            # Logs may hold a stack trace (responses never do).
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def set_trace_from_header(header: str | None) -> None:
    """X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1 -> TRACE_ID."""
    trace_id = (header or "").split("/", 1)[0].strip()
    trace_context.set(trace_id or None)


def configure(project_id: str, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, CloudLoggingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter(project_id))
    root.addHandler(handler)
    root.setLevel(level)
