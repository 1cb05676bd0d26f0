"""Retention at scale: delete 10,000 expired jobs on the Firestore emulator.

    .venv/bin/python -m benchmarks.cleanup_retention [--expired 10000] [--kept 1000]

Seeds expired completed, failed and cancelled jobs (plus jobs retention must keep), then runs
the real CleanupService.retention() on a Firestore client whose gRPC channel is counted, and
prints the wall time and every Firestore operation it used. Not a timed test: it reports.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import typer
from google.cloud import firestore
from qgen.adapters.firestore.cleanup import FirestoreCleanupScans
from qgen.adapters.firestore.names import JOBS
from qgen.adapters.firestore.unit_of_work import FirestoreUnitOfWork
from qgen.config import Settings
from qgen.services.cleanup import CleanupService

from benchmarks.environment import machine_line
from benchmarks.firestore_traffic import CountedClient, Rpc, RpcCounter
from dev.stack import STATE_DIR, firestore_emulator

PROJECT = "demo-qgen-bench-cleanup"
NOW = datetime.now(UTC)


class _NoQueue:
    def enqueue(self, task_id: str, job_id: str, *, delay_seconds: float = 0) -> bool:
        raise AssertionError("retention enqueued a task")


def _seed(client: firestore.Client, expired: int, kept: int) -> dict[str, int]:
    """Expired jobs split 60/30/10 between completed, failed and cancelled, plus kept ones."""
    plan: list[tuple[str, timedelta]] = []
    plan += [("completed", timedelta(days=8))] * int(expired * 0.6)
    plan += [("failed", timedelta(days=31))] * int(expired * 0.3)
    plan += [("cancelled", timedelta(days=8))] * (expired - len(plan))
    plan += [("completed", timedelta(days=1))] * kept
    batch, pending = client.batch(), 0
    for n, (status, age) in enumerate(plan):
        batch.set(
            client.collection(JOBS).document(f"job-{n:06d}"),
            {
                "userId": f"user-{n % 500}",
                "prompt": "NATO alphabet",
                "status": status,
                "createdAt": NOW - age - timedelta(minutes=5),
                "completedAt": NOW - age,
                "questionsSaved": 40,
                "questionIds": [f"job-{n:06d}-q{i:03d}" for i in range(40)],
            },
        )
        pending += 1
        if pending == 500:
            batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()
    return dict(Counter(status for status, age in plan if age > timedelta(days=7)))


def _print_operations(rpcs: list[Rpc]) -> None:
    by_method = Counter(r.method for r in rpcs)
    docs_read = sum(r.docs_found for r in rpcs)
    deletes = sum(
        1
        for r in rpcs
        if r.method == "BatchWrite"
        for path, fields, _ in r.writes
        if "<delete>" in fields
    )
    print("Firestore operations (counted at the gRPC channel):")
    for method, count in sorted(by_method.items()):
        print(f"  {method:<20} {count:>6} calls")
    print(f"  documents read      {docs_read:>6}  (query results)")
    print(f"  documents deleted   {deletes:>6}  (BatchWrite deletes with a precondition)")


def main(
    expired: int = typer.Option(10_000, help="Expired jobs to seed (all must be deleted)."),
    kept: int = typer.Option(1_000, help="Recent jobs retention must keep."),
    page_size: int = typer.Option(300, help="CLEANUP_PAGE_SIZE: documents per query page."),
) -> None:
    print("Retention benchmark: CleanupService.retention() on the Firestore emulator")
    print(f"  machine: {machine_line()}")
    print(f"  seeded: {expired} expired jobs + {kept} recent ones; page size {page_size}")
    with firestore_emulator(log_dir=STATE_DIR / "logs" / "bench-cleanup") as address:
        os.environ["FIRESTORE_EMULATOR_HOST"] = address
        seeded = _seed(firestore.Client(project=PROJECT), expired, kept)
        counter = RpcCounter()
        client = CountedClient(project=PROJECT, counter=counter)
        settings = Settings(project_id=PROJECT, cleanup_page_size=page_size)
        service = CleanupService(
            scans=FirestoreCleanupScans(client, page_size=page_size),
            uow=FirestoreUnitOfWork(
                client, transaction_max_attempts=settings.transaction_max_attempts
            ),
            queue=_NoQueue(),
            settings=settings,
            clock=lambda: NOW,
        )
        started = time.perf_counter()
        report = service.retention()
        elapsed = time.perf_counter() - started
        remaining = sum(1 for _ in firestore.Client(project=PROJECT).collection(JOBS).stream())

    print(f"\nDeleted {report.total} jobs in {elapsed:.2f} s ({report.total / elapsed:,.0f}/s):")
    print(
        f"  completed {report.deleted_completed}, failed {report.deleted_failed}, "
        f"cancelled {report.deleted_cancelled} (seeded expired: {seeded})"
    )
    _print_operations(counter.rpcs)
    print(f"Jobs left: {remaining} (expected {kept})")
    ok = report.total == expired and remaining == kept
    print("Check:", "PASS" if ok else "FAIL", "- every expired job deleted once, recent kept")
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
