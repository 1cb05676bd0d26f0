"""Admission rules for new jobs: prompt length, the active-job cap and the rate windows.

All decisions are pure functions of what the caller read in its transaction, so the same
rules are unit-tested here and enforced atomically by the Firestore adapter.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .errors import DomainError, ErrorCode


def normalise_prompt(raw: str, *, min_length: int, max_length: int) -> str:
    """Trim the prompt and enforce its length, counted in characters after trimming."""
    prompt = raw.strip()
    if len(prompt) < min_length:
        raise DomainError(
            ErrorCode.PROMPT_TOO_SHORT,
            f"The prompt must be at least {min_length} characters long.",
            details={"minLength": min_length, "length": len(prompt)},
        )
    if len(prompt) > max_length:
        raise DomainError(
            ErrorCode.PROMPT_TOO_LONG,
            f"The prompt must be at most {max_length} characters long.",
            details={"maxLength": max_length, "length": len(prompt)},
        )
    return prompt


class RateScope(StrEnum):
    USER = "user"
    IP = "ip"


@dataclass(frozen=True)
class RateWindow:
    """One fixed window of a rate limit, e.g. user X's jobs between 14:00 and 15:00 UTC."""

    scope: RateScope
    key: str
    limit: int
    start: datetime
    length: timedelta

    @property
    def end(self) -> datetime:
        return self.start + self.length

    @property
    def document_id(self) -> str:
        # Hashed so any uid or IPv6 address makes a valid, fixed-length document id.
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        return f"{self.scope}-{int(self.start.timestamp())}-{digest}"

    def seconds_until_reset(self, now: datetime) -> int:
        return max(1, int((self.end - now).total_seconds() + 0.999))


def window_for(
    scope: RateScope, key: str, *, limit: int, window_seconds: int, now: datetime
) -> RateWindow:
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)
    return RateWindow(scope, key, limit, start, timedelta(seconds=window_seconds))


@dataclass(frozen=True)
class AdmissionState:
    """What an admission transaction read before deciding."""

    active_jobs: int
    window_counts: dict[RateWindow, int]


def check_admission(state: AdmissionState, *, max_active: int, now: datetime) -> None:
    """Raise the error that rejects a new job, or return when it may be admitted.

    The concurrency cap is checked first: it clears as soon as a job finishes, so it is the
    more useful thing to tell the learner. Nothing is consumed by a rejection because the
    caller writes only after this returns.
    """
    if state.active_jobs >= max_active:
        raise DomainError(
            ErrorCode.CONCURRENCY_LIMIT,
            f"You already have {state.active_jobs} active generation jobs; the limit is "
            f"{max_active}. Wait for one to finish or cancel one.",
            details={"limit": max_active, "active": state.active_jobs},
        )
    exhausted = [w for w, count in state.window_counts.items() if count >= w.limit]
    if exhausted:
        # When several windows are full the caller must wait for the last one to reset.
        retry_after = max(w.seconds_until_reset(now) for w in exhausted)
        worst = max(exhausted, key=lambda w: w.seconds_until_reset(now))
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"Too many generation requests; try again in {retry_after} seconds.",
            details={
                "scope": str(worst.scope),
                "limit": worst.limit,
                "windowSeconds": int(worst.length.total_seconds()),
            },
            retry_after_seconds=retry_after,
        )


def client_ip(forwarded_for: str | None, remote_addr: str | None, *, trusted_hops: int) -> str:
    """The caller's address as the trusted proxy in front of us saw it.

    Google's front end appends the address it received the request from to X-Forwarded-For,
    so entries left of the trusted ones are client-supplied and may be forged.
    """
    entries = [e.strip() for e in (forwarded_for or "").split(",") if e.strip()]
    candidate: str | None = None
    if trusted_hops > 0 and entries:
        candidate = entries[-min(trusted_hops, len(entries))]
    if candidate is None:
        candidate = remote_addr
    try:
        return str(ipaddress.ip_address((candidate or "").strip()))
    except ValueError:
        return "unknown"


def idempotency_document_id(user_id: str, key: str) -> str:
    return hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()


def request_fingerprint(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyClaim:
    """What a create request with an Idempotency-Key asks to record, or to replay."""

    document_id: str
    fingerprint: str
    expires_at: datetime


@dataclass(frozen=True)
class IdempotencyRecord:
    job_id: str
    fingerprint: str
    expires_at: datetime | None


def replayed_job_id(
    record: IdempotencyRecord | None, claim: IdempotencyClaim, now: datetime
) -> str | None:
    """The job an earlier request with the same key created, or None to admit a new one.

    TTL deletion lags by up to a day, so an expired record is treated as absent. The same key
    with another prompt is refused: the client reused a key it should not have.
    """
    if record is None or (record.expires_at is not None and record.expires_at <= now):
        return None
    if record.fingerprint != claim.fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was already used for a different prompt.",
        )
    return record.job_id
