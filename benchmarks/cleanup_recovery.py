"""Recovery at scale: the periodic sweep with many learners of whom few are active.

    .venv/bin/python -m benchmarks.cleanup_recovery [--learners 100000] [--active 10]

Seeds one activeJobCounters document per learner ever seen (settled: 0), plus a few active
learners (a pending or processing job, the counter at 1; one of them drifted to 0), then runs
the real CleanupService.recovery() on a Firestore client whose gRPC channel is counted, and
prints its wall time and every Firestore operation. The goal (issue 11): ≤ 1,000 documents read
and a few seconds, however many learners were ever seen. Not a timed test: it reports.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import typer
from google.cloud import firestore
from qgen.adapters.firestore.cleanup import FirestoreCleanupScans
from qgen.adapters.firestore.names import ACTIVE_COUNTERS, JOBS
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.config import Settings
from qgen.services.cleanup import CleanupService

from benchmarks.environment import machine_line
from benchmarks.firestore_traffic import CountedClient, RpcCounter
from dev.stack import STATE_DIR, firestore_emulator, firestore_emulator_host

PROJECT = "demo-qgen-bench-recovery"
NOW = datetime.now(UTC)


class _RecordingQueue:
    def __init__(self) -> None:
        self.tasks: list[str] = []

    def enqueue(self, task_id: str, job_id: str, *, delay_seconds: float = 0) -> bool:
        self.tasks.append(task_id)
        return True


def _seed(client: firestore.Client, learners: int, active: int) -> None:
    """Settled counters for everyone, then the active few (one with a drifted counter)."""
    writer = client.bulk_writer()
    for n in range(learners):
        writer.set(
            client.collection(ACTIVE_COUNTERS).document(f"learner-{n:06d}"), {"activeJobs": 0}
        )
    for n in range(active):
        uid = f"learner-{n:06d}"
        status = "processing" if n % 2 else "pending"
        writer.set(
            client.collection(JOBS).document(f"job-{n:04d}"),
            {
                "userId": uid,
                "prompt": "NATO alphabet",
                "status": status,
                "createdAt": NOW - timedelta(minutes=1),
                "enqueuedAt": NOW - timedelta(minutes=1),
                "leaseExpiresAt": NOW + timedelta(minutes=1),
                "attempts": 1,
                "run": 0,
            },
        )
        # The first active learner's counter drifted (a lost increment): recovery repairs it.
        writer.set(client.collection(ACTIVE_COUNTERS).document(uid), {"activeJobs": int(n > 0)})
    writer.close()  # type: ignore[no-untyped-call]


def main(
    learners: int = typer.Option(100_000, help="Learners ever seen (one counter document each)."),
    active: int = typer.Option(10, help="Learners with a pending or processing job now."),
) -> None:
    print("Recovery benchmark: CleanupService.recovery() on the Firestore emulator")
    print(f"  machine: {machine_line()}")
    print(f"  seeded: {learners:,} learners' counters, {active} of them active")
    log_dir = STATE_DIR / "logs" / "bench-recovery"
    with firestore_emulator(log_dir=log_dir) as address, firestore_emulator_host(address):
        started = time.perf_counter()
        _seed(firestore.Client(project=PROJECT), learners, active)
        print(f"  seeding took {time.perf_counter() - started:.1f} s")
        counter, queue = RpcCounter(), _RecordingQueue()
        client = CountedClient(project=PROJECT, counter=counter)
        service = CleanupService(
            scans=FirestoreCleanupScans(client, page_size=300),
            uow=FirestoreUnitOfWork(client),
            queue=queue,
            settings=Settings(project_id=PROJECT),
            clock=lambda: NOW,
        )
        started = time.perf_counter()
        report = service.recovery()
        elapsed = time.perf_counter() - started

    by_method = Counter(r.method for r in counter.rpcs)
    docs_read = sum(r.docs_found for r in counter.rpcs)
    print(f"\nRecovery took {elapsed:.2f} s")
    print("Firestore operations (counted at the gRPC channel):")
    for method, count in sorted(by_method.items()):
        print(f"  {method:<22} {count:>6} calls")
    print(f"  documents read         {docs_read:>6}")
    print(
        f"  counters repaired      {len(report.counters_repaired):>6}  {report.counters_repaired}"
    )
    ok = docs_read <= 1_000 and len(report.counters_repaired) == 1
    print(
        "Goal: ≤ 1,000 documents read, the one drifted counter repaired:",
        "MET" if ok else "NOT MET",
    )
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
