"""Collection names: the data contract's and the server-only ones (docs/architecture.md)."""

from __future__ import annotations

JOBS = "generationJobs"
QUESTIONS = "questions"
ACTIVE_COUNTERS = "activeJobCounters"
RATE_WINDOWS = "rateLimitWindows"
IDEMPOTENCY_KEYS = "idempotencyKeys"
LEARNER_DEVICES = "learnerDevices"  # {userId}: FCM tokens, the notification switch
TOKEN_BUDGETS = "tokenBudgets"  # noqa: S105 - {userId}-{YYYY-MM-DD}: reserved, spent
NOTIFICATION_OUTBOX = "notificationOutbox"  # {jobId}-run{run}: a job end to notify, until sent
