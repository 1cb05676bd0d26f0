"""Admission rules for new jobs: prompt length, the active-job cap and the rate windows.

All decisions are pure functions of what the caller read in its transaction, so the same
rules are unit-tested here and enforced atomically by the Firestore adapter.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .budgets import LearnerBudget
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
    # 1: one document, counted exactly inside the admission transaction. More: a coarse limit
    # counted on that many shard documents outside the transaction's reads, so that learners
    # behind one address never contend for one document.
    shards: int = 1

    @property
    def end(self) -> datetime:
        return self.start + self.length

    @property
    def document_id(self) -> str:
        # Hashed so any uid or IPv6 address makes a valid, fixed-length document id, and the
        # hash first so that the windows of one hour spread over the key range (ids that began
        # with the window's start would move every write of the hour to one hot range).
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        return f"{digest}-{self.scope}-{int(self.start.timestamp())}"

    def shard_ids(self) -> list[str]:
        """The documents a sharded window is counted on (just the window's for one shard)."""
        if self.shards == 1:
            return [self.document_id]
        return [f"{self.document_id}-s{shard:02d}" for shard in range(self.shards)]

    def seconds_until_reset(self, now: datetime) -> int:
        return max(1, int((self.end - now).total_seconds() + 0.999))


def window_for(
    scope: RateScope,
    key: str,
    *,
    limit: int,
    window_seconds: int,
    now: datetime,
    shards: int = 1,
) -> RateWindow:
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)
    return RateWindow(scope, key, limit, start, timedelta(seconds=window_seconds), shards)


def address_key(address: str) -> str:
    """What the per-address limit counts: an IPv4 address, or an IPv6 address's /64 network
    (one client gets a whole /64 and can rotate through it at will)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        mapped = parsed.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True)
class AdmissionState:
    """What an admission transaction read before deciding."""

    active_jobs: int
    window_counts: dict[RateWindow, int]
    budget: LearnerBudget = field(default_factory=LearnerBudget)
    # The learner's devices would get a notification when the job ends (Devices.reachable).
    reachable: bool = False

    def including(self, counts: dict[RateWindow, int]) -> AdmissionState:
        """With the coarse windows' counts, read before the transaction."""
        return replace(self, window_counts={**self.window_counts, **counts})


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


# Visible ASCII only: keys are opaque client tokens (typically UUIDs) and become hash input.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[!-~]{1,255}")


def idempotency_claim(
    user_id: str, key: str | None, *, prompt: str, expires_at: datetime
) -> IdempotencyClaim | None:
    """What a create request with an Idempotency-Key records, or None without a key."""
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise DomainError(
            ErrorCode.INVALID_ARGUMENT,
            "Idempotency-Key must be 1..255 visible ASCII characters (a UUID works well).",
            details={"field": "Idempotency-Key"},
        )
    return IdempotencyClaim(
        document_id=idempotency_document_id(user_id, key),
        fingerprint=request_fingerprint(prompt),
        expires_at=expires_at,
    )


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
