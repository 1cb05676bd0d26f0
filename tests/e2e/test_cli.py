"""The `qgen` command (clients/cli), run as installed, against the whole local stack."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from google.api_core import exceptions as gexc
from qgen.adapters.firestore.documents import RESERVED, SPENT, budget_id
from qgen.adapters.firestore.names import TOKEN_BUDGETS
from qgen.domain.budgets import budget_day

from dev.model_server.client import AdminClient
from dev.stack import ROOT, Stack, free_port, wipe_firestore
from tests.conftest import PROJECT_ID
from tests.e2e.conftest import bearer
from tests.support.e2e import fresh_model

pytestmark = pytest.mark.e2e

QGEN = Path(sys.executable).parent / "qgen"


@pytest.fixture
def model(stack: Stack) -> Iterator[AdminClient]:
    with fresh_model(stack) as admin:
        yield admin


class Cli:
    """Runs `qgen` with its own config file, as one user."""

    def __init__(self, stack: Stack, home: Path) -> None:
        self.stack = stack
        self.env = {
            **os.environ,
            "QGEN_CONFIG": str(home / "qgen.json"),
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }

    def __call__(
        self, *args: str, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(QGEN), *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def login(self, uid: str) -> None:
        c = self.stack.config
        done = self(
            "login",
            uid,
            "--project",
            PROJECT_ID,
            "--api-url",
            c.api_url,
            "--firestore-emulator",
            c.firestore_address,
        )
        assert done.returncode == 0, done.stderr
        assert f"Signed in as {uid} (local user, project {PROJECT_ID})" in done.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(QGEN), *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture
def cli(stack: Stack, db: Any, tmp_path: Path) -> Iterator[Callable[[str], Cli]]:
    def _as(uid: str) -> Cli:
        home = tmp_path / uid
        home.mkdir()
        runner = Cli(stack, home)
        runner.login(uid)
        return runner

    yield _as
    # Emulator quirk: a listener evaluated under the rules (not an admin one) stays registered
    # after its process exits, and the next wipe of the database fails once with 499
    # (CANCELLED) while dropping it. Writes are not affected. Absorb it here, so the next
    # test's wipe is clean.
    for attempt in range(3):
        try:
            wipe_firestore(stack.config.firestore_address, PROJECT_ID)
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 499 or attempt == 2:
                raise


def one_error_line(done: subprocess.CompletedProcess[str], code: str) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error {code}: "), lines[0]
    return lines[0]


def test_generate_follows_the_listener_then_jobs_and_questions_list_the_result(
    cli: Callable[[str], Cli], model: AdminClient
) -> None:
    alice = cli("alice")
    # Slow enough (about 0.2 s a question) that the listener sees the generating phase.
    model.config(paceMs=20)
    who = alice("whoami")
    assert who.returncode == 0
    assert "alice (local user" in who.stdout

    done = alice("generate", "8 questions about world capitals")
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = done.stdout.split()[1]
    # Not a terminal: one line per state the listener delivered, then the result.
    assert f"{job_id}  processing generating questions…" in done.stdout
    assert f"{job_id}  completed 8/8" in done.stdout
    assert "✓ completed: 8 questions on World capitals" in done.stdout

    jobs = alice("jobs")
    assert jobs.returncode == 0
    row = next(line for line in jobs.stdout.splitlines() if job_id in line)
    assert "completed" in row
    assert "World capitals" in row
    assert "8/8" in row
    listed = json.loads(alice("jobs", "--json").stdout)
    assert [j["jobId"] for j in listed] == [job_id]

    table = alice("questions", "--job", job_id)
    assert table.returncode == 0
    assert f"8 questions of job {job_id}" in table.stdout
    saved = json.loads(alice("questions", "--job", job_id, "--json").stdout)
    assert len(saved) == 8
    assert [q["id"] for q in saved] == [f"{job_id}-q{i:03d}" for i in range(8)]
    assert all(q["generationJobId"] == job_id for q in saved)
    assert len(json.loads(alice("questions", "--json").stdout)) == 8


def test_ctrl_c_asks_whether_to_cancel(
    cli: Callable[[str], Cli], model: AdminClient, live_api: httpx.Client
) -> None:
    alice = cli("alice")
    model.config(paceMs=40)

    def interrupt(answer: str, prompt: str) -> tuple[str, str, int]:
        process = alice.popen("generate", prompt)
        assert process.stdout is not None
        assert process.stdin is not None
        seen = ""
        for line in process.stdout:
            seen += line
            if "generating questions…" in line:
                break
        job_id = seen.split()[1]
        process.send_signal(signal.SIGINT)
        process.stdin.write(answer + "\n")
        process.stdin.flush()
        rest = process.stdout.read()
        return job_id, seen + rest, process.wait(timeout=30)

    # "y": the job is cancelled through the API, the partial questions are kept.
    job_id, out, code = interrupt("y", "NATO alphabet")
    assert code == 130, out
    assert f"Cancel job {job_id}? [y/N]" in out
    assert f"Cancelled job {job_id};" in out
    job = live_api.get(f"/jobs/{job_id}", headers=bearer("alice")).json()
    assert job["status"] == "cancelled"
    assert f"Cancelled job {job_id}; {job['questionsSaved']} question" in out

    # Cancelling it again, or retrying it, is refused with the API's code, on one line.
    one_error_line(alice("cancel", job_id), "NOT_CANCELLABLE")
    one_error_line(alice("retry", job_id), "NOT_RETRYABLE")

    # "n": the job keeps running, and `watch` picks it up again until it completes.
    job_id, out, code = interrupt("n", "10 questions about world capitals")
    assert code == 0, out
    assert f"follow it with `qgen watch {job_id}`" in out
    watched = alice("watch", job_id)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "✓ completed: 10 questions on World capitals" in watched.stdout


def test_a_failed_job_is_reported_and_retried(
    cli: Callable[[str], Cli], model: AdminClient
) -> None:
    alice = cli("alice")
    model.add_faults({"kind": "http_error", "code": 429, "call": "stream", "times": 5})
    submitted = alice("generate", "--no-wait", "8 questions about world capitals")
    assert submitted.returncode == 0
    job_id = submitted.stdout.strip()

    failed = alice("watch", job_id)
    assert failed.returncode == 1
    assert "✗ failed (RATE_LIMIT)" in failed.stdout
    assert f"Try again with `qgen retry {job_id}`" in failed.stdout
    assert "RATE_LIMIT" in next(
        line for line in alice("jobs").stdout.splitlines() if job_id in line
    )

    retried = alice("retry", job_id, "--wait")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"Job {job_id} queued again" in retried.stdout
    assert "✓ completed: 8 questions on World capitals" in retried.stdout


def test_reads_go_through_the_security_rules_as_the_signed_in_user(
    cli: Callable[[str], Cli], live_api: httpx.Client, stack: Stack, model: AdminClient
) -> None:
    from qgen_cli.auth import TokenSource
    from qgen_cli.config import Profile
    from qgen_cli.store import JOBS, QUESTIONS, job_questions, user_client

    alice, bob = cli("alice"), cli("bob")
    done = alice("generate", "3 questions about world capitals")
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = done.stdout.split()[1]

    # Through the command: bob gets neither the job nor its questions.
    one_error_line(bob("watch", job_id), "NOT_FOUND")
    one_error_line(bob("questions", "--job", job_id), "NOT_FOUND")
    assert bob("questions").stdout.strip() == "No questions yet."
    assert "No jobs yet" in bob("jobs").stdout

    # The client the command uses reads Firestore as the user: the emulator applies the rules.
    def client(uid: str) -> Any:
        profile = Profile(
            mode="local",
            uid=uid,
            project_id=PROJECT_ID,
            api_url=stack.config.api_url,
            firestore_emulator=stack.config.firestore_address,
        )
        return user_client(profile, TokenSource(profile))

    as_bob, as_alice = client("bob"), client("alice")
    assert len(job_questions(as_alice, "alice", job_id, 100)) == 3
    assert as_alice.collection(JOBS).document(job_id).get().get("status") == "completed"
    with pytest.raises(gexc.PermissionDenied):
        as_bob.collection(JOBS).document(job_id).get()
    with pytest.raises(gexc.PermissionDenied):
        job_questions(as_bob, "alice", job_id, 100)
    with pytest.raises(gexc.PermissionDenied):
        list(as_alice.collection(QUESTIONS).limit(1).stream())  # no userId filter
    with pytest.raises(gexc.PermissionDenied):
        as_alice.collection(JOBS).document(job_id).update({"status": "pending"})


def test_limits_show_what_is_left_and_follow_the_jobs(
    cli: Callable[[str], Cli], live_api: httpx.Client, db: Any, model: AdminClient
) -> None:
    alice = cli("alice")
    # Budgets renew at midnight UTC, shown in the local time zone: 05:30 in Kolkata.
    kolkata = {"TZ": "Asia/Kolkata"}
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time())
    local = midnight.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    renews = f"{'tomorrow ' if local.date() != today else ''}at 05:30"

    fresh = alice("limits", **kolkata)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    active, hourly, daily = fresh.stdout.splitlines()
    assert active == "active jobs     0 of 3"
    # Hourly windows end on the UTC hour, half past in Kolkata.
    assert re.fullmatch(r"jobs this hour  0 of 20 \(renews (tomorrow )?at \d\d:30\)", hourly)
    assert daily == (
        "today's budget  about 10 more jobs today: 40,000 of 40,000 tokens left "
        f"(0 used, 0 held by running jobs; renews {renews})"
    )

    # A job takes a place in this hour's window; when it ends its reservation comes back and
    # what it really used is spent.
    done = alice("generate", "3 questions about world capitals")
    assert done.returncode == 0, done.stdout + done.stderr
    served = live_api.get("/limits", headers=bearer("alice")).json()
    assert json.loads(alice("limits", "--json").stdout) == served
    tokens = served["dailyTokens"]
    assert served["activeJobs"]["used"] == 0
    assert served["hourlyJobs"]["used"] == 1
    assert tokens["reserved"] == 0
    assert tokens["spent"] > 0
    after = alice("limits", **kolkata).stdout
    assert "active jobs     0 of 3" in after
    assert "jobs this hour  1 of 20" in after
    left = tokens["jobsRemaining"]
    assert (
        f"today's budget  about {left} more job{'s' if left != 1 else ''} today: "
        f"{tokens['remaining']:,} of 40,000 tokens left ({tokens['spent']:,} used, "
        "0 held by running jobs;"
    ) in after

    # Today's budget all but spent: no room for one more job's reservation.
    day = budget_day(datetime.now(UTC))
    db.collection(TOKEN_BUDGETS).document(budget_id("alice", day)).set(
        {RESERVED: 0, SPENT: 38_000, "userId": "alice", "day": day}
    )
    assert "today's budget  no more jobs today: 2,000 of 40,000" in alice("limits").stdout
    line = one_error_line(alice("generate", "NATO alphabet"), "BUDGET_EXCEEDED")
    assert "renews at midnight UTC" in line


def test_errors_are_one_line_with_the_code(
    cli: Callable[[str], Cli], stack: Stack, tmp_path: Path
) -> None:
    nobody = Cli(stack, tmp_path)
    line = one_error_line(nobody("jobs"), "UNAUTHENTICATED")
    assert "qgen login" in line

    alice = cli("alice")
    one_error_line(alice("generate", "ab"), "PROMPT_TOO_SHORT")
    one_error_line(alice("watch", "no-such-job"), "NOT_FOUND")
    down = f"http://127.0.0.1:{free_port()}"
    line = one_error_line(alice("jobs", QGEN_API_URL=down), "NETWORK")
    assert down in line
    one_error_line(alice("login", "not a name"), "INVALID_ARGUMENT")
