"""The scheduled cleanup: retention, stuck-job recovery, counter repair, expired limits.

Two schedules call it (infra/): "retention" daily at 03:00 UTC, "recovery" every few minutes.
Every step is idempotent and safe to run twice at once or to kill half way: deletes carry a
last-update-time precondition, recovery re-checks each job in a unit of work, and counter
repair recounts inside one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ..config import Settings
from ..domain import recovery
from ..domain.jobs import JobStatus, StoredJob, task_id_for
from .cleanup_reports import CounterRepair, RecoveryReport, RetentionReport
from .notifications import NotificationSender
from .ports import CleanupScans, Clock, JobTransaction, QueueUnavailableError, TaskQueue, UnitOfWork

log = logging.getLogger(__name__)


class CleanupMode(StrEnum):
    RETENTION = "retention"
    RECOVERY = "recovery"
    ALL = "all"


@dataclass
class CleanupService:
    scans: CleanupScans
    uow: UnitOfWork
    queue: TaskQueue
    settings: Settings
    clock: Clock
    # Sends what the outbox still holds (a worker died, or FCM failed); None: notifications off.
    notifications: NotificationSender | None = None
    _retention_days: dict[JobStatus, int] = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self._retention_days = {
            JobStatus.COMPLETED: s.completed_job_retention_days,
            JobStatus.FAILED: s.failed_job_retention_days,
            JobStatus.CANCELLED: s.cancelled_job_retention_days,
        }

    def run(self, mode: CleanupMode) -> dict[str, object]:
        result: dict[str, object] = {"mode": mode.value}
        if mode in (CleanupMode.RETENTION, CleanupMode.ALL):
            result["retention"] = self.retention().dump()
        if mode in (CleanupMode.RECOVERY, CleanupMode.ALL):
            result["recovery"] = self.recovery().dump()
        return result

    # ----- retention -----------------------------------------------------------------------

    def retention(self) -> RetentionReport:
        started, now = time.monotonic(), self.clock()
        deleted = {
            status: self.scans.delete_finished_before(status, now - timedelta(days=days))
            for status, days in self._retention_days.items()
        }
        report = RetentionReport(
            deleted_completed=deleted[JobStatus.COMPLETED],
            deleted_failed=deleted[JobStatus.FAILED],
            deleted_cancelled=deleted[JobStatus.CANCELLED],
            total=sum(deleted.values()),
            expired_limit_documents=self.scans.delete_expired_limits(now),
        )
        log.info(
            "retention finished",
            extra={"event": "cleanup.retention", **report.dump(), "durationMs": _ms_since(started)},
        )
        return report

    # ----- recovery ------------------------------------------------------------------------

    def recovery(self) -> RecoveryReport:
        started, s, now = time.monotonic(), self.settings, self.clock()
        report = RecoveryReport()
        for stored in self.scans.expired_leases(now):
            self._recover(stored, report)
        stale_before = now - timedelta(seconds=s.stale_pending_seconds)
        for stored in self.scans.stale_pending(stale_before):
            self._requeue_stale(stored.job_id, stale_before, report)
        for user_id in self.scans.users_to_recount():
            self._repair_counter(user_id, report)
        if self.notifications is not None:
            sent = self.notifications.send_due(self.scans.due_notifications(now))
            report.notifications = {k.value: v for k, v in sent.items()}
        log.info(
            "recovery finished",
            extra={
                "event": "cleanup.recovery",
                "requeued": len(report.requeued),
                "failedWorkerLost": len(report.failed_worker_lost),
                "pendingRequeued": len(report.pending_requeued),
                "countersRepaired": len(report.counters_repaired),
                "notifications": report.notifications,
                "durationMs": _ms_since(started),
            },
        )
        return report

    def _recover(self, stored: StoredJob, report: RecoveryReport) -> None:
        """A worker stopped renewing its lease: requeue the job as a new run, or fail it."""
        now, job_id = self.clock(), stored.job_id

        def recover(tx: JobTransaction) -> StoredJob | None:
            job = tx.get_job(job_id)
            if job is None or job.status is not JobStatus.PROCESSING:
                return None  # it finished or was cancelled
            s = self.settings
            ids = tx.saved_question_ids(job_id, job.question_bounds(s.max_questions_per_job))
            recovered = recovery.recover_lost_worker(
                job, now=now, max_attempts=s.max_attempts, question_ids=ids
            )
            if recovered is None:
                return None  # it finished, was cancelled, or a delivery took the lease again
            tx.save_job(job_id, job, recovered)
            return StoredJob(job_id, recovered)

        recovered = self.uow.run(recover)
        if recovered is None:
            return
        job = recovered.job
        context = {
            "jobId": job_id,
            "userId": job.user_id,
            "attempt": job.attempts,
            "errorCode": job.last_error_code,
        }
        if job.status is JobStatus.PENDING:
            self._enqueue(job_id, job.run, report)
            report.requeued.append(job_id)
            log.warning(
                "worker lost; job queued again as a new run",
                extra={**context, "event": "job.retrying"},
            )
        else:
            report.failed_worker_lost.append(job_id)
            log.warning(
                "worker lost on the last attempt; job failed",
                extra={**context, "event": "job.failed", "retryable": job.retryable},
            )

    def _requeue_stale(self, job_id: str, stale_before: datetime, report: RecoveryReport) -> None:
        """A pending job whose task never ran: a new run under a fresh task name (the old
        name stays reserved for about an hour, so reusing it could not revive anything)."""
        now = self.clock()

        def requeue(tx: JobTransaction) -> StoredJob | None:
            job = tx.get_job(job_id)
            fresh = (
                None
                if job is None
                else recovery.requeue_stale(
                    job, now=now, stale_before=stale_before, max_attempts=self.settings.max_attempts
                )
            )
            if job is None or fresh is None:
                return None  # it ran meanwhile
            tx.save_job(job_id, job, fresh)
            return StoredJob(job_id, fresh)

        fresh = self.uow.run(requeue)
        if fresh is not None and fresh.job.status is JobStatus.FAILED:
            report.failed_undelivered.append(job_id)
            log.warning(
                "a job's tasks never reached a worker; job failed",
                extra={
                    "event": "job.failed",
                    "jobId": job_id,
                    "userId": fresh.job.user_id,
                    "errorCode": fresh.job.error_code,
                    "retryable": fresh.job.retryable,
                },
            )
        elif fresh is not None and self._enqueue(job_id, fresh.job.run, report):
            report.pending_requeued.append(job_id)

    def _repair_counter(self, user_id: str, report: RecoveryReport) -> None:
        def recount(tx: JobTransaction) -> CounterRepair | None:
            recorded = tx.read_active_counter(user_id)
            actual = tx.count_active_jobs(user_id)
            if recorded == actual:
                return None
            tx.set_active_counter(user_id, actual)
            return CounterRepair(user_id, recorded, actual)

        repair = self.uow.run(recount)
        if repair is None:
            return
        report.counters_repaired.append(
            {"user_id": repair.user_id, "recorded": repair.recorded, "actual": repair.actual}
        )
        log.warning(
            "active-job counter repaired",
            extra={
                "event": "cleanup.counter_repaired",
                "userId": user_id,
                "recorded": repair.recorded,
                "actual": repair.actual,
            },
        )

    def _enqueue(self, job_id: str, run: int, report: RecoveryReport) -> bool:
        """True when a task was created (not when one of that name already existed)."""
        try:
            return self.queue.enqueue(task_id_for(job_id, run), job_id)
        except QueueUnavailableError:
            # The job stays pending; the next sweep tries again.
            report.enqueue_failures.append(job_id)
            log.error(
                "recovery could not enqueue a job",
                extra={"event": "cleanup.enqueue_failed", "jobId": job_id},
            )
            return False


def _ms_since(started: float) -> int:
    """Milliseconds since ``started`` (time.monotonic()): a run's duration, for its log line."""
    return int((time.monotonic() - started) * 1000)
