"""The scheduled cleanup: retention, stuck-job recovery, counter repair, expired limits.

Two schedules call it (infra/): "retention" daily at 03:00 UTC, "recovery" every few minutes.
Every step is idempotent and safe to run twice at once or to kill half way: deletes carry a
last-update-time precondition, recovery re-checks each job in a transaction, and counter repair
recounts inside a transaction.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum

from ..adapters.cleanup_store import CleanupStore
from ..adapters.clock import Clock
from ..adapters.task_queue import QueueUnavailableError, TaskQueue
from ..config import Settings
from ..domain.failures import FailureCode, failure_for
from ..domain.jobs import JobStatus, task_id_for

log = logging.getLogger(__name__)


class CleanupMode(StrEnum):
    RETENTION = "retention"
    RECOVERY = "recovery"
    ALL = "all"


@dataclass
class RetentionReport:
    deletedCompleted: int = 0  # noqa: N815 - the contract names these in camelCase
    deletedFailed: int = 0  # noqa: N815
    deletedCancelled: int = 0  # noqa: N815
    total: int = 0
    expiredLimitDocuments: int = 0  # noqa: N815


@dataclass
class RecoveryReport:
    requeued: list[str] = field(default_factory=list)
    failedWorkerLost: list[str] = field(default_factory=list)  # noqa: N815
    pendingRequeued: list[str] = field(default_factory=list)  # noqa: N815
    enqueueFailures: list[str] = field(default_factory=list)  # noqa: N815
    countersRepaired: list[dict[str, object]] = field(default_factory=list)  # noqa: N815


class CleanupService:
    def __init__(
        self, *, store: CleanupStore, queue: TaskQueue, settings: Settings, clock: Clock
    ) -> None:
        self._store = store
        self._queue = queue
        self._settings = settings
        self._clock = clock

    def run(self, mode: CleanupMode) -> dict[str, object]:
        result: dict[str, object] = {"mode": mode.value}
        if mode in (CleanupMode.RETENTION, CleanupMode.ALL):
            result["retention"] = asdict(self.retention())
        if mode in (CleanupMode.RECOVERY, CleanupMode.ALL):
            result["recovery"] = asdict(self.recovery())
        return result

    # ----- retention -----------------------------------------------------------------------

    def retention(self) -> RetentionReport:
        s, now = self._settings, self._clock()
        report = RetentionReport(
            deletedCompleted=self._store.delete_finished_before(
                JobStatus.COMPLETED, now - timedelta(days=s.completed_job_retention_days)
            ),
            deletedFailed=self._store.delete_finished_before(
                JobStatus.FAILED, now - timedelta(days=s.failed_job_retention_days)
            ),
            deletedCancelled=self._store.delete_finished_before(
                JobStatus.CANCELLED, now - timedelta(days=s.cancelled_job_retention_days)
            ),
            expiredLimitDocuments=self._store.delete_expired_limits(now),
        )
        report.total = report.deletedCompleted + report.deletedFailed + report.deletedCancelled
        log.info("retention finished", extra={"event": "cleanup.retention", **asdict(report)})
        return report

    # ----- recovery ------------------------------------------------------------------------

    def recovery(self) -> RecoveryReport:
        s, now = self._settings, self._clock()
        report = RecoveryReport()
        lost = failure_for(FailureCode.WORKER_LOST)
        for stored in self._store.expired_leases(now):
            job = stored.job
            context = {"jobId": stored.job_id, "userId": job.user_id, "attempt": job.attempts}
            if job.attempts < s.max_attempts:
                requeued = self._store.requeue_lost_worker(stored.job_id, now=now, lost=lost)
                if requeued is not None:
                    self._enqueue(requeued.job_id, requeued.job.run, report)
                    report.requeued.append(requeued.job_id)
                    log.warning(
                        "worker lost; job queued again as a new run",
                        extra={**context, "event": "job.retrying", "errorCode": lost.code.value},
                    )
            elif self._store.fail_lost_worker(stored.job_id, now=now, lost=lost):
                report.failedWorkerLost.append(stored.job_id)
                log.warning(
                    "worker lost on the last attempt; job failed",
                    extra={
                        **context,
                        "event": "job.failed",
                        "errorCode": lost.code.value,
                        "retryable": lost.retryable,
                    },
                )
        # Same task name: a no-op while the task still exists; it only revives a lost task.
        stale_before = now - timedelta(seconds=s.stale_pending_seconds)
        for stored in self._store.stale_pending(stale_before):
            if self._enqueue(stored.job_id, stored.job.run, report):
                report.pendingRequeued.append(stored.job_id)
        for repair in self._store.repair_counters(now):
            report.countersRepaired.append(asdict(repair))
            log.warning(
                "active-job counter repaired",
                extra={
                    "event": "cleanup.counter_repaired",
                    "userId": repair.user_id,
                    "recorded": repair.recorded,
                    "actual": repair.actual,
                },
            )
        log.info(
            "recovery finished",
            extra={
                "event": "cleanup.recovery",
                "requeued": len(report.requeued),
                "failedWorkerLost": len(report.failedWorkerLost),
                "pendingRequeued": len(report.pendingRequeued),
                "countersRepaired": len(report.countersRepaired),
            },
        )
        return report

    def _enqueue(self, job_id: str, run: int, report: RecoveryReport) -> bool:
        """True when a task was created (not when one of that name already existed)."""
        try:
            return self._queue.enqueue(task_id_for(job_id, run), job_id)
        except QueueUnavailableError:
            # The job stays pending; the next sweep tries again.
            report.enqueueFailures.append(job_id)
            log.error(
                "recovery could not enqueue a job",
                extra={"event": "cleanup.enqueue_failed", "jobId": job_id},
            )
            return False
