"""Firestore documents <-> domain objects, and the one helper that saves what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore
from pydantic import BaseModel

from ...domain.jobs import Job

# Server-only counter fields (activeJobCounters/{uid}, rateLimitWindows/{id}).
ACTIVE_JOBS = "activeJobs"
WINDOW_COUNT = "count"
RESERVED, SPENT = "reserved", "spent"


def document(model: BaseModel) -> dict[str, Any]:
    """A model as stored: camelCase names, absent optional fields omitted (never null)."""
    return model.model_dump(by_alias=True, exclude_none=True)


def job_from(snapshot: Any) -> Job:
    return Job.model_validate(snapshot.to_dict())


def changes(before: Job, after: Job) -> dict[str, Any]:
    """The update that turns ``before``'s document into ``after``'s: changed fields, and
    DELETE_FIELD for each field ``after`` no longer has."""
    old, new = document(before), document(after)
    update = {name: value for name, value in new.items() if old.get(name) != value}
    update.update({name: firestore.DELETE_FIELD for name in old if name not in new})
    return update


def counter_value(snapshot: Any, field: str) -> int:
    return int((snapshot.to_dict() or {}).get(field, 0)) if snapshot.exists else 0


def budget_id(user_id: str, day: str) -> str:
    # The learner first: one day's budget documents spread over the key range.
    return f"{user_id}-{day}"


def budget_expiry(day: str) -> datetime:
    """When a day's budget documents can matter no more (the TTL policy deletes them)."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=2)
