"""Why a job that has not ended is waiting, and whether that wait still has a deadline ahead.

A pending job waits for its task: a retry scheduled for `enqueuedAt` (a time still ahead), or
a task queued at `enqueuedAt` that the stale sweep revives STALE_PENDING_SECONDS later. A
processing job waits for its worker, whose lease the recovery sweep takes back once it
expires. A wait whose deadline passed more than GRACE ago (a few sweeps) names no reason: it
is stuck.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

GRACE = timedelta(seconds=15)


def waiting_reason(job: dict[str, Any], now: datetime, stale_seconds: int) -> tuple[str, bool]:
    """(why it waits, whether that is a wait with a deadline ahead)."""
    status, due, lease = job.get("status"), job.get("enqueuedAt"), job.get("leaseExpiresAt")
    if status == "pending" and due is not None:
        if due > now:
            return f"retry scheduled: run at {due:%H:%M:%S}", True
        revive = due + timedelta(seconds=stale_seconds)
        ok = now <= revive + GRACE
        return f"pending: queued {due:%H:%M:%S}, the stale sweep revives it at {revive:%X}", ok
    if status == "processing" and lease is not None:
        ok = now <= lease + GRACE
        return f"processing: lease until {lease:%H:%M:%S}, then the recovery sweep", ok
    return f"{status} with no enqueuedAt or lease: stuck", False
