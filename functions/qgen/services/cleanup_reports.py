"""What a cleanup run reports (its HTTP answer and its log event's counts)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class _Report(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)


class RetentionReport(_Report):
    deleted_completed: int = 0
    deleted_failed: int = 0
    deleted_cancelled: int = 0
    total: int = 0
    expired_limit_documents: int = 0


@dataclass(frozen=True)
class CounterRepair:
    user_id: str
    recorded: int
    actual: int


class RecoveryReport(_Report):
    requeued: list[str] = []
    failed_worker_lost: list[str] = []
    pending_requeued: list[str] = []
    failed_undelivered: list[str] = []
    enqueue_failures: list[str] = []
    counters_repaired: list[dict[str, object]] = []
    # How the sweep's notification sends ended, by outcome (done, rescheduled, ...).
    notifications: dict[str, int] = {}
