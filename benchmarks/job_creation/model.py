"""What a run is made of: its plan, its simulated users, the answers they got, the checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from qgen.config import Settings

EXIT_OK, EXIT_CHECK_FAILED, EXIT_NOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130
ACTIVE_STATUSES = ("pending", "processing")


def _default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


DEFAULT_MAX_ACTIVE = _default("max_concurrent_per_user")
DEFAULT_USER_RATE_LIMIT = _default("user_rate_limit")
DEFAULT_IP_RATE_LIMIT = _default("ip_rate_limit")


@dataclass(frozen=True)
class Plan:
    """The load, as the command line asked for it."""

    users: int
    requests_per_user: int
    shared_ip_users: int
    concurrency: int
    request_timeout: float
    # Seconds the whole run may take, stack start included.
    timeout: float

    @property
    def requests(self) -> int:
        return (self.users + self.shared_ip_users) * self.requests_per_user


@dataclass(frozen=True)
class Baseline:
    """Taken before the stack starts: the functions import the code as it is at that moment."""

    started_at: datetime
    # time.monotonic() by which the whole run must be done.
    deadline: float
    load: str
    code: str


@dataclass(frozen=True)
class Limits:
    """The admission limits the checks hold the stack to."""

    max_active: int
    user_rate: int
    ip_rate: int

    def function_env(self) -> dict[str, str]:
        """The functions' environment that sets these limits (the Settings fields of _default)."""
        return {
            "MAX_CONCURRENT_PER_USER": str(self.max_active),
            "USER_RATE_LIMIT": str(self.user_rate),
            "IP_RATE_LIMIT": str(self.ip_rate),
        }


@dataclass(frozen=True)
class Target:
    api_url: str
    project_id: str
    firestore: str
    own_stack: bool
    # Only known for a stack this run started.
    api_threads: int | None = None
    api_workers: int | None = None
    ports: dict[str, int] = field(default_factory=dict)
    firestore_log: Path | None = None


@dataclass(frozen=True)
class SimUser:
    index: int
    uid: str
    ip: str
    token: str
    shared_ip: bool


@dataclass(frozen=True)
class Outcome:
    user: int
    seq: int
    # Seconds since the load phase began.
    started: float
    latency: float
    status: int | None = None
    # error.code of an error body; None for a 202.
    code: str | None = None
    # The job a 202 created, or the failed job a 503 QUEUE_UNAVAILABLE names.
    job_id: str | None = None
    # Why there is no response: a transport error's class name, or "not sent".
    failure: str | None = None

    @property
    def admitted(self) -> bool:
        return self.status == 202

    @property
    def label(self) -> str:
        if self.status is None:
            return f"no response ({self.failure})"
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
