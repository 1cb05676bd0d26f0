"""Push notifications when a job ends: which ends notify, what they say, and the outbox rules.

A job's end writes its notification to an outbox document in the same commit as the end
itself (`notification_for`, applied by the unit of work like the counter and the budget), so a
duplicate delivery, a retry or a crash can neither lose it nor write it twice: one document per
end of a run, sent after the commit. Sending is at least once (a sender can die between FCM's
answer and the outbox's delete); the notification's tag is the job id, so a resend replaces the
first on the device instead of showing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .devices import Devices
from .jobs import Job, JobStatus

# The worker that ended the job sends at once; the sweep takes over what is still in the
# outbox this long after (the worker died, or FCM failed): longer than one send can take.
SENDER_GRACE: Final = timedelta(seconds=60)
# A sweep's hold on a notification it is sending.
CLAIM_SECONDS: Final = 60
# Sends of one notification before it is dropped (logged), and the wait between them.
MAX_SENDS: Final = 5
_BACKOFF: Final = timedelta(seconds=30)
# An outbox document nobody could send is deleted by Firestore's TTL policy after this.
OUTBOX_TTL: Final = timedelta(days=1)
# FCM shows about this much of a title and a body; longer text is cut, not refused.
_TITLE_CHARS, _BODY_CHARS, _TOPIC_CHARS = 100, 240, 60


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Notification(_Camel):
    """notificationOutbox/{jobId}-run{run}: one job end to tell the learner's devices about."""

    user_id: str
    job_id: str
    status: JobStatus  # the job's final status, in the data payload
    title: str
    body: str
    created_at: datetime
    # When the sweep may take it (after the ending worker's own send, or after a failed send).
    due_at: datetime
    # Sends started; 0 while only the ending worker has it.
    sends: int = 0
    # Devices FCM accepted it for: a resend goes to the others only.
    sent_to: list[str] = Field(default_factory=list)
    last_error: str | None = None
    expire_at: datetime


def notification_id(job_id: str, run: int) -> str:
    """One per end of a run: a run ends once, and a retry is a new run."""
    return f"{job_id}-run{run}"


def notification_for(job_id: str, before: Job, after: Job) -> tuple[str, Notification] | None:
    """The notification ``after`` owes its learner, if saving it ends the job: completed,
    failed (for good), or cancelled with questions kept; only for a learner who had
    notifications on when the job was created (`Job.notify`)."""
    if not after.notify or before.is_terminal or not after.is_terminal:
        return None
    if after.status is JobStatus.CANCELLED and not after.questions_saved:
        return None  # nothing kept, and the learner cancelled it themselves
    ended = after.completed_at or after.created_at
    title, body = message_for(after)
    notification = Notification(
        user_id=after.user_id,
        job_id=job_id,
        status=after.status,
        title=title,
        body=body,
        created_at=ended,
        due_at=ended + SENDER_GRACE,
        expire_at=ended + OUTBOX_TTL,
    )
    return notification_id(job_id, after.run), notification


def message_for(job: Job) -> tuple[str, str]:
    """Title and body a person would want on their lock screen."""
    topic = _cut(job.topic or job.prompt, _TOPIC_CHARS)
    saved = job.questions_saved
    counted = f"{saved} question{'s' if saved != 1 else ''} on {topic}"
    if job.status is JobStatus.COMPLETED:
        title, body = f"{counted} {'are' if saved != 1 else 'is'} ready", "Tap to start studying."
    elif job.status is JobStatus.CANCELLED:
        title = f"{counted} kept"
        body = "You cancelled this job; the questions made before that are saved."
    else:
        title = f"Your questions on {topic} could not be made"
        again = " Tap to try again." if job.retryable else ""
        body = f"{job.error_message or 'Something went wrong.'}{again}"
    return _cut(title, _TITLE_CHARS), _cut(body, _BODY_CHARS)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ----- sending -------------------------------------------------------------------------------


def recipients(notification: Notification, devices: Devices) -> dict[str, str]:
    """Device id -> token of the devices a send goes to: none once the learner switched
    notifications off, and never one FCM already accepted it for."""
    if not devices.notifications_enabled:
        return {}
    return {
        d.device_id: d.token for d in devices.devices if d.device_id not in notification.sent_to
    }


def claim(notification: Notification | None, *, now: datetime) -> Notification | None:
    """The sweep's hold on a due notification (another send started); None if not due."""
    if notification is None or notification.due_at > now:
        return None
    return notification.model_copy(
        update={"sends": notification.sends + 1, "due_at": now + timedelta(seconds=CLAIM_SECONDS)}
    )


class TokenResult(StrEnum):
    """What FCM answered for one device."""

    SENT = "sent"
    UNREGISTERED = "unregistered"  # the token is dead: prune the device, do not resend
    REJECTED = "rejected"  # refused for good (an invalid argument): do not resend, keep it
    FAILED = "failed"  # try again later (5xx, quota, network)


class SendReport(NamedTuple):
    results: dict[str, TokenResult]  # by device id
    error: str | None = None  # the first failure's description, for the log and the outbox

    def devices(self, result: TokenResult) -> set[str]:
        return {device for device, r in self.results.items() if r is result}


class Settled(StrEnum):
    DONE = "done"  # every device has it (or is gone): delete the outbox document
    RESCHEDULED = "rescheduled"  # some device failed: save for a later send
    ABANDONED = "abandoned"  # failed MAX_SENDS times: delete and log
    STALE = "stale"  # someone else holds or finished it: write nothing


def settle(
    current: Notification | None, *, sends: int, report: SendReport, now: datetime
) -> tuple[Settled, Notification | None]:
    """What the outbox becomes after a send that was started as send number ``sends``."""
    if current is None or current.sends != sends:
        return Settled.STALE, None
    failed = report.devices(TokenResult.FAILED)
    if not failed:
        return Settled.DONE, None
    if sends + 1 >= MAX_SENDS:
        return Settled.ABANDONED, None
    rescheduled = current.model_copy(
        update={
            "sent_to": sorted({*current.sent_to, *report.devices(TokenResult.SENT)}),
            "due_at": now + _BACKOFF * 2**sends,
            "last_error": report.error,
        }
    )
    return Settled.RESCHEDULED, rescheduled
