"""The checks: what the answers claimed against what Firestore holds afterwards."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from qgen.domain.limits import RateScope

from benchmarks.job_creation.firestore_state import Stored, read_stored
from benchmarks.job_creation.model import Check, Limits, Outcome, SimUser

EXPECTED_ANSWERS = frozenset(
    {"202", "429 CONCURRENCY_LIMIT", "429 RATE_LIMITED", "503 CONTENTION", "503 QUEUE_UNAVAILABLE"}
)
# Offenders named in a check's detail; the rest are counted.
LISTED = 5


@dataclass
class Tally:
    """By rule, the users that break it (one line each); the totals over all users."""

    offenders: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # admitted, active_docs, docs, failed_responses, finished
    totals: Counter[str] = field(default_factory=Counter)
    created_by_ip: Counter[str] = field(default_factory=Counter)


def tally_user(
    tally: Tally, user: SimUser, mine: list[Outcome], limits: Limits, stored: Stored
) -> None:
    admitted_ids = {o.job_id for o in mine if o.admitted}
    admitted = sum(1 for o in mine if o.admitted)
    # A 503 QUEUE_UNAVAILABLE names a job that was created and then marked failed.
    failed_ids = {o.job_id for o in mine if o.code == "QUEUE_UNAVAILABLE" and o.job_id}
    docs = stored.jobs.get(user.uid, {})
    active_ids = stored.active_ids(user.uid)
    # Admitted jobs that already left pending/processing (none while the worker is a stub)
    # gave their slot back, so they may be followed by further admissions.
    finished = len((admitted_ids & docs.keys()) - active_ids)
    tally.totals.update(
        admitted=admitted,
        active_docs=len(active_ids),
        docs=len(docs),
        failed_responses=len(failed_ids),
        finished=finished,
    )
    tally.created_by_ip[user.ip] += len(docs)
    offenders = tally.offenders
    if len(active_ids) > limits.max_active or admitted > limits.max_active + finished:
        offenders["over"].append(
            f"{user.uid}: {admitted} admitted, {len(active_ids)} active docs, {finished} finished"
        )
    if None in admitted_ids or admitted != len(admitted_ids) or admitted_ids - docs.keys():
        offenders["lost_ids"].append(
            f"{user.uid}: {admitted} 202s, {len(admitted_ids - docs.keys())} without a doc"
        )
    unanswered = (active_ids - admitted_ids) | (docs.keys() - admitted_ids - failed_ids)
    if unanswered:
        offenders["phantom"].append(f"{user.uid}: {len(unanswered)} docs that no 202/503 announced")
    counter = stored.counters.get(user.uid, 0)
    if counter != len(active_ids):
        offenders["counter_bad"].append(
            f"{user.uid}: activeJobs={counter}, active docs={len(active_ids)}"
        )
    delta, after = stored.window_growth(RateScope.USER, user.uid)
    if delta != len(docs) or any(count > limits.user_rate for count in after):
        offenders["user_window_bad"].append(f"{user.uid}: window +{delta}, job docs {len(docs)}")


def listed(items: list[str]) -> str:
    shown = "; ".join(items[:LISTED])
    return shown + (f"; … {len(items) - LISTED} more" if len(items) > LISTED else "")


def user_checks(tally: Tally, limits: Limits, stored: Stored, users: int) -> list[Check]:
    bad, total = tally.offenders, tally.totals
    finished = f" + {total['finished']} finished" if total["finished"] else ""
    announced = (
        f"{total['admitted']} × 202 + {total['failed_responses']} × 503 QUEUE_UNAVAILABLE "
        f"= {total['docs']} docs"
    )
    return [
        Check(
            f"no user admitted beyond {limits.max_active} active jobs (no over-admission)",
            not bad["over"],
            listed(bad["over"]) or f"max active docs per user: {stored.max_active()}",
        ),
        Check(
            "every 202 names a distinct job doc of that user (no lost admissions)",
            not bad["lost_ids"],
            listed(bad["lost_ids"])
            or f"{total['admitted']} admitted = {total['active_docs']} active docs{finished}",
        ),
        Check(
            "every job doc was announced by a 202 or a 503 QUEUE_UNAVAILABLE (no phantoms)",
            not bad["phantom"] and total["admitted"] + total["failed_responses"] == total["docs"],
            listed(bad["phantom"]) or announced,
        ),
        Check(
            "activeJobCounters/{uid}.activeJobs = that user's active job docs",
            not bad["counter_bad"],
            listed(bad["counter_bad"]) or f"{users} counters agree",
        ),
        Check(
            f"user rate windows count exactly the jobs created (limit {limits.user_rate})",
            not bad["user_window_bad"],
            listed(bad["user_window_bad"]) or "all agree",
        ),
    ]


def ip_check(tally: Tally, limits: Limits, stored: Stored) -> Check:
    bad = []
    for ip, created in sorted(tally.created_by_ip.items()):
        delta, after = stored.window_growth(RateScope.IP, ip)
        if delta != created or any(count > limits.ip_rate for count in after):
            bad.append(f"{ip}: window +{delta} (now {sorted(after)}), docs {created}")
    return Check(
        f"IP rate windows count exactly the jobs created, none above {limits.ip_rate}",
        not bad,
        listed(bad) or f"{len(tally.created_by_ip)} addresses agree",
    )


def answer_checks(outcomes: list[Outcome]) -> list[Check]:
    lost = [o for o in outcomes if o.status is None]
    odd = Counter(
        o.label for o in outcomes if o.status is not None and o.label not in EXPECTED_ANSWERS
    )
    return [
        Check(
            "every request got an HTTP response",
            not lost,
            f"{len(lost)} without: {dict(Counter(o.label for o in lost))}" if lost else "yes",
        ),
        Check(
            "only 202, 429 (limits) or 503 (contention/queue) answers",
            not odd,
            str(dict(odd)) if odd else "yes",
        ),
    ]


def verify(
    db: Any,
    users: list[SimUser],
    outcomes: list[Outcome],
    limits: Limits,
    run_prefix: str,
    windows_before: dict[str, int],
) -> tuple[list[Check], dict[str, Any]]:
    """The checks, and the totals found in Firestore (for the JSON report)."""
    stored = read_stored(db, users, run_prefix, windows_before)
    by_user: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_user[outcome.user].append(outcome)
    tally = Tally()
    for user in users:
        tally_user(tally, user, by_user.get(user.index, []), limits, stored)
    checks = [
        *user_checks(tally, limits, stored, len(users)),
        ip_check(tally, limits, stored),
        *answer_checks(outcomes),
    ]
    total = tally.totals
    facts = {
        "job_docs": total["docs"],
        "active_job_docs": total["active_docs"],
        "admitted": total["admitted"],
        "queue_unavailable_docs": total["failed_responses"],
        "max_active_docs_per_user": stored.max_active(),
        "admitted_jobs_finished": total["finished"],
    }
    return checks, facts
