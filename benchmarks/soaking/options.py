"""What a soak does: its size, its chaos, and the settings of the stack it runs on."""

from __future__ import annotations

from dataclasses import dataclass

# The service's settings for the soak (functions/qgen/config.py), chosen so that every job can
# end within the run: the shortest lease the service accepts (a killed worker's job is
# recovered ~10 s later), quick retries, a model silence of 3 s counted as a dropped stream,
# and limits that never refuse the load itself (the concurrency cap of 3 stays, and is hit).
LEASE_SECONDS = 10
MAX_ATTEMPTS = 3
STALE_PENDING_SECONDS = 60  # the least the service accepts
MODEL_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 10.0  # the drive: jobs created, chaos injected
    jobs: int = 600
    learners: int = 36
    shared_address_learners: int = 12  # of the learners, these share one X-Forwarded-For address
    workers: int = 2
    seed: int = 1
    settle_seconds: float = 180.0  # the most the end waits for every job to settle
    kill_every_seconds: float = 20.0  # a worker SIGKILLed about this often (±25 %)
    fault_rate: float = 0.10  # share of model calls that misbehave
    cancel_rate: float = 0.12  # share of jobs their learner cancels a moment after creating
    retry_rate: float = 0.8  # share of failed, retryable jobs their learner retries
    duplicate_every_seconds: float = 2.0  # a task body POSTed straight to a worker
    sweep_every_seconds: float = 3.0  # the cleanup's recovery
    pace_ms: int = 8  # the offline model: between streamed events
    first_chunk_ms: int = 150  # the offline model: time to first token
    questions: tuple[int, int] = (4, 16)  # each prompt asks for a count in this range
    queue_concurrency: int = 24

    @property
    def drive_seconds(self) -> float:
        return self.minutes * 60

    def function_env(self) -> dict[str, str]:
        return {
            "LEASE_SECONDS": str(LEASE_SECONDS),
            "MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "STALE_PENDING_SECONDS": str(STALE_PENDING_SECONDS),
            "MODEL_TIMEOUT_SECONDS": str(MODEL_TIMEOUT_SECONDS),
            "RETRY_BACKOFF_SECONDS": "0.5",
            "MAX_RETRY_DELAY_SECONDS": "3",
            "USER_RATE_LIMIT": "100000",
            "IP_RATE_LIMIT": "100000",
            "DAILY_TOKEN_BUDGET": "1000000000",
            "PROJECT_DAILY_TOKEN_CEILING": "2000000000",
            "MAX_QUESTIONS_PER_JOB": "40",
            "WORKER_CALLER_CHECK": "local",
        }


# The CI-sized soak (tests/e2e/test_soak.py): a minute of the same chaos, about 30 jobs.
CI_OPTIONS = SoakOptions(
    minutes=1.0,
    jobs=30,
    learners=8,
    shared_address_learners=3,
    seed=7,
    settle_seconds=45.0,
    kill_every_seconds=18.0,
    duplicate_every_seconds=2.5,
    queue_concurrency=8,
)
