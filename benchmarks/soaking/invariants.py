"""The promises, checked on what the soak left behind (world.py). Pure: a World in, findings out.

1. every job is terminal, or waiting for a reason it can name (waits.py);
2. completed ⇒ questionsSaved = question documents = estimatedTotal, no repeated text;
3. cancelled ⇒ no write after the cancel's commit, the partial questions kept and counted;
4. every ended job counts its documents; no job holds more than its plan; no question
   document without its job;
5. the active-job counters equal the active jobs, and the sweep never had to repair one;
6. token budgets settled: reserved and spent equal what the jobs hold and recorded;
7. exactly one terminal log event per end of a job (an owner's retry reopens a failed job, so
   a job that ended n times — failed, retried, ... — has n terminal events).

Times compared are Firestore's own commit times (update_time), never a process's clock: a
question committed before the cancel has an earlier commit time than the cancel, whatever
the clocks of the api and the worker said.
"""

from __future__ import annotations

from collections import Counter

from qgen.domain.questions import normalise_question_text

from benchmarks.soaking.events_check import terminal_events
from benchmarks.soaking.verdict import ACTIVE, SHOWN, Check
from benchmarks.soaking.waits import waiting_reason
from benchmarks.soaking.world import Doc, World

__all__ = ["SHOWN", "Check", "check_all"]


def check_all(world: World, *, stale_pending_seconds: int) -> list[Check]:
    return [
        settled(world, stale_pending_seconds),
        completed(world),
        cancelled(world),
        documents(world),
        counters(world),
        budgets(world),
        terminal_events(world),
    ]


def settled(world: World, stale_pending_seconds: int) -> Check:
    check = Check("every job terminal, or waiting for a reason it names")
    waiting = Counter[str]()
    for job in world.jobs.values():
        if job.data.get("status") not in ACTIVE:
            continue
        reason, ok = waiting_reason(job.data, world.read_at, stale_pending_seconds)
        if ok:
            waiting[reason.split(":")[0]] += 1
        else:
            check.violations.append(f"{job.id}: {reason}")
    check.note = ", ".join(f"{n} {why}" for why, n in waiting.items()) or "all terminal"
    return check


def completed(world: World) -> Check:
    check = Check("completed ⇒ saved = documents = planned, no repeated text")
    by_job = world.questions_of()
    for job in _with_status(world, "completed"):
        docs, data = by_job[job.id], job.data
        saved, planned = data.get("questionsSaved"), data.get("estimatedTotal")
        if not saved == len(docs) == planned:
            rejected = data.get("questionsRejected", 0)
            check.violations.append(
                f"{job.id}: saved {saved}, documents {len(docs)}, planned {planned} "
                f"(rejected items {rejected}, attempts {data.get('attempts')})"
            )
    return check


def cancelled(world: World) -> Check:
    check = Check("cancelled ⇒ nothing written after the cancel's commit, partials kept")
    by_job = world.questions_of()
    for job in _with_status(world, "cancelled"):
        commit = world.cancel_commits.get(job.id, job.update_time)
        if job.update_time != commit:
            check.violations.append(f"{job.id}: job written at {job.update_time} after {commit}")
        late = [d.id for d in by_job[job.id] if d.update_time >= commit]
        if late:
            check.violations.append(f"{job.id}: {len(late)} question(s) written after: {late}")
    kept = sum(len(by_job[j.id]) for j in _with_status(world, "cancelled"))
    check.note = f"{len(world.cancel_commits)} cancels by the learners, {kept} questions kept"
    return check


def documents(world: World) -> Check:
    check = Check("ended jobs count their documents; none over its plan; no orphans; no repeats")
    by_job = world.questions_of()
    for job_id, docs in by_job.items():
        job = world.jobs.get(job_id)
        if job is None:
            check.violations.append(f"{len(docs)} question(s) of a missing job {job_id}")
            continue
        check.violations += _job_documents(job, docs)
    return check


def _job_documents(job: Doc, docs: list[Doc]) -> list[str]:
    found, data = [], job.data
    ids = sorted(d.id for d in docs)
    counted = data.get("questionsSaved") == len(docs) and sorted(data.get("questionIds", [])) == ids
    if data.get("status") not in ACTIVE and not counted:
        found.append(
            f"{job.id} ({data.get('status')} {data.get('errorCode') or ''}): saved "
            f"{data.get('questionsSaved')} ≠ {len(docs)} documents"
        )
    planned = data.get("estimatedTotal")
    # A plan that never reached the job document (its attempt died first) caps nothing.
    if planned is not None and len(docs) > planned:
        found.append(f"{job.id}: {len(docs)} documents over a plan of {planned}")
    strangers = [d.id for d in docs if d.data.get("userId") != data.get("userId")]
    strangers += [d.id for d in docs if not d.id.startswith(f"{job.id}-q")]
    if strangers:
        found.append(f"{job.id}: documents with another owner or id: {strangers}")
    texts = Counter(normalise_question_text(str(d.data.get("question", ""))) for d in docs)
    repeated = [text for text, n in texts.items() if n > 1]
    if repeated:
        found.append(f"{job.id}: {len(repeated)} question text(s) saved twice")
    return found


def counters(world: World) -> Check:
    check = Check("active counters = active jobs; no drift repaired by the sweep")
    active = Counter(str(j.data.get("userId")) for j in world.jobs.values() if _active(j))
    for uid in sorted(set(active) | set(world.counters)):
        if world.counters.get(uid, 0) != active.get(uid, 0):
            check.violations.append(
                f"{uid}: counter {world.counters.get(uid, 0)}, active jobs {active.get(uid, 0)}"
            )
    repairs = [e for e in world.events if e["event"] == "cleanup.counter_repaired"]
    check.violations += [
        f"the sweep repaired {e.get('userId')}: {e.get('recorded')} → {e.get('actual')}"
        for e in repairs
    ]
    return check


def budgets(world: World) -> Check:
    check = Check("token budgets settled: reserved and spent = the jobs' own")
    held: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for job in world.jobs.values():
        data = job.data
        key = f"{data.get('userId')}-{data.get('budgetDay')}"
        held[key] += int(data.get("reservedTokens", 0))
        spent[key] += int(data.get("settledTokens", 0))
        if not _active(job):
            usage = data.get("usage") or {}
            used = int(usage.get("promptTokens", 0)) + int(usage.get("outputTokens", 0))
            if data.get("reservedTokens", 0) != 0 or data.get("settledTokens", 0) != used:
                check.violations.append(
                    f"{job.id}: ended holding {data.get('reservedTokens')}, settled "
                    f"{data.get('settledTokens')} of {used} used"
                )
    for key in sorted(set(held) | set(world.budgets)):
        budget = world.budgets.get(key, {})
        recorded = (int(budget.get("reserved", 0)), int(budget.get("spent", 0)))
        if recorded != (held[key], spent[key]):
            check.violations.append(
                f"{key}: reserved/spent {recorded}, jobs hold/settled {(held[key], spent[key])}"
            )
    check.note = f"{sum(spent.values())} tokens spent, {sum(held.values())} still reserved"
    return check


def _with_status(world: World, status: str) -> list[Doc]:
    return [j for j in world.jobs.values() if j.data.get("status") == status]


def _active(job: Doc) -> bool:
    return job.data.get("status") in ACTIVE
