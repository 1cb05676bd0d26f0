"""Job creation under parallel load: latency, throughput, and proof of no over-admission.

    .venv/bin/python -m benchmarks.create_jobs                       # own stack, defaults
    .venv/bin/python -m benchmarks.create_jobs --users 10 --requests-per-user 10
    .venv/bin/python -m benchmarks.create_jobs --shared-ip-users 10 --ip-rate-limit 20
    .venv/bin/python -m benchmarks.create_jobs --api-url http://127.0.0.1:8081 \\
        --project demo-qgen --firestore 127.0.0.1:8180          # a stack that is already up

By default a private stack (Firestore emulator, Cloud Tasks emulator, the three functions) is
started on free loopback ports under the project id ``demo-qgen-bench`` and stopped at the end,
also on errors and Ctrl-C. Every simulated user sends all of its POST /jobs at once (requests
are queued user by user, so a user's requests race each other), each user with its own
X-Forwarded-For address; ``--shared-ip-users`` adds users that all share one address.

Afterwards Firestore is read directly (admin client against the emulator) to assert that no
user holds more active jobs than the limit, that every 202 has exactly one active job document
and vice versa, that the per-user counters and the rate-limit windows agree with the documents.
The exit status is 0 when every check passes, 1 when one fails, 2 when the run could not be
carried out at all, 130 on Ctrl-C.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import itertools
import json
import math
import os
import platform
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
import typer
from qgen.adapters.firestore_store import ACTIVE_COUNTERS, JOBS, RATE_WINDOWS
from qgen.config import Settings
from qgen.domain.limits import RateScope, window_for
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dev.stack import ROOT, STATE_DIR, Stack, StackConfig, StackError, free_port
from dev.tokens import emulator_id_token

BENCH_PROJECT = "demo-qgen-bench"
BENCH_LOG_DIR = STATE_DIR / "logs" / "bench"
ACTIVE_STATUSES = ("pending", "processing")
FIRESTORE_SNAPSHOT = Path(
    "/usr/lib/google-cloud-sdk/.install/cloud-firestore-emulator.snapshot.json"
)
TASKS_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"

EXIT_OK, EXIT_CHECK_FAILED, EXIT_NOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130


def _default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


DEFAULT_MAX_ACTIVE = _default("max_concurrent_per_user")
DEFAULT_USER_RATE_LIMIT = _default("user_rate_limit")
DEFAULT_IP_RATE_LIMIT = _default("ip_rate_limit")


# ----- model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimUser:
    index: int
    uid: str
    ip: str
    token: str
    shared_ip: bool


@dataclass(frozen=True)
class Outcome:
    user: int
    seq: int
    # Seconds since the load phase began.
    started: float
    latency: float
    status: int | None = None
    # error.code of an error body; None for a 202.
    code: str | None = None
    # The job a 202 created, or the failed job a 503 QUEUE_UNAVAILABLE names.
    job_id: str | None = None
    # Why there is no response: a transport error's class name, or "not sent".
    failure: str | None = None

    @property
    def admitted(self) -> bool:
        return self.status == 202

    @property
    def label(self) -> str:
        if self.status is None:
            return f"no response ({self.failure})"
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Target:
    api_url: str
    project_id: str
    firestore: str
    own_stack: bool
    # Only known for a stack this run started.
    api_threads: int | None = None
    api_workers: int | None = None
    ports: dict[str, int] = field(default_factory=dict)
    firestore_log: Path | None = None


@dataclass(frozen=True)
class Limits:
    max_active: int
    user_rate: int
    ip_rate: int


# ----- helpers -----------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def latency_summary(values: list[float]) -> dict[str, float | int | None]:
    """Milliseconds; None where there is nothing to summarise."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, **dict.fromkeys(("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"))}
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50) * 1000,
        "p95_ms": percentile(ordered, 95) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "mean_ms": sum(ordered) / len(ordered) * 1000,
    }


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def firestore_emulator_version() -> str:
    try:
        snapshot = json.loads(FIRESTORE_SNAPSHOT.read_text())
        for component in snapshot.get("components", []):
            if component.get("id") == "cloud-firestore-emulator":
                return str(component["version"]["version_string"])
    except (OSError, ValueError, KeyError):
        pass
    return "unknown"


def tasks_emulator_version() -> str:
    try:
        result = subprocess.run(
            [
                str(TASKS_PYTHON),
                "-c",
                "import importlib.metadata as m; print(m.version('gcloud-tasks-emulator'))",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def code_version() -> str:
    """The commit under test, and whether functions/ differs from it (a digest of the diff)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "functions"],
            cwd=ROOT,
            capture_output=True,
            timeout=20,
            check=True,
        ).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z", "--", "functions"],
            cwd=ROOT,
            capture_output=True,
            timeout=20,
            check=True,
        ).stdout
        for name in sorted(filter(None, untracked.split(b"\0"))):
            diff += b"\0untracked " + name + b"\0" + (ROOT / name.decode()).read_bytes()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout?)"
    if not diff:
        return f"commit {head}, functions/ unmodified"
    digest = sha256(diff).hexdigest()[:12]
    return f"commit {head} + uncommitted changes in functions/ (diff sha256 {digest})"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def make_users(
    run_id: str,
    project_id: str,
    users: int,
    shared_ip_users: int,
    salt: int,
    token_lifetime: int = 3600,
) -> list[SimUser]:
    """Users with their own address in 10.0.0.0/8, then users sharing one in 172.16.0.0/12.

    The addresses only ever travel as X-Forwarded-For values; ``salt`` keeps runs against the
    same stack within one rate window from sharing an IP window.
    """
    base = int(ipaddress.IPv4Address("10.0.0.0")) + (salt << 16)
    shared = str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("172.16.0.0")) + (salt << 8) + 1))
    result: list[SimUser] = []
    for index in range(users + shared_ip_users):
        own = index < users
        uid = f"bench-{run_id}-u{index:04d}"
        ip = str(ipaddress.IPv4Address(base + index + 1)) if own else shared
        token = emulator_id_token(uid, project_id=project_id, lifetime_seconds=token_lifetime)
        result.append(SimUser(index, uid, ip, token, shared_ip=not own))
    return result


def parse_response(response: httpx.Response) -> tuple[str | None, str | None]:
    """(error code, job id) from a POST /jobs response."""
    try:
        body = response.json()
    except ValueError:
        return (None if response.status_code == 202 else "NON_JSON_BODY"), None
    if not isinstance(body, dict):
        return "UNEXPECTED_BODY", None
    if response.status_code == 202:
        job_id = body.get("jobId")
        return None, job_id if isinstance(job_id, str) else None
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    details = error.get("details")
    details = details if isinstance(details, dict) else {}
    job_id = details.get("jobId")
    return str(error.get("code", "NO_ERROR_CODE")), job_id if isinstance(job_id, str) else None


def headers_for(user: SimUser) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {user.token}",
        "Content-Type": "application/json",
        "X-Forwarded-For": user.ip,
    }


# ----- load --------------------------------------------------------------------------------


class LoadRunner:
    """Sends every request once through a bounded thread pool, one httpx.Client per thread."""

    def __init__(self, api_url: str, concurrency: int, request_timeout: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.concurrency = concurrency
        self.request_timeout = request_timeout
        self.stop = threading.Event()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            # trust_env=False: loopback traffic must never go through an HTTP(S)_PROXY.
            client = httpx.Client(base_url=self.api_url, trust_env=False)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def post_job(self, user: SimUser, seq: int, t0: float, deadline: float) -> Outcome:
        started = time.perf_counter()
        remaining = deadline - time.monotonic()
        if self.stop.is_set() or remaining <= 0:
            return Outcome(user.index, seq, started - t0, 0.0, failure="not sent")
        timeout = max(0.5, min(self.request_timeout, remaining))
        body = {"prompt": f"Benchmark prompt {seq} of {user.uid}: the water cycle, basics"}
        try:
            response = self._client().post(
                "/jobs", json=body, headers=headers_for(user), timeout=timeout
            )
        except httpx.HTTPError as exc:
            latency = time.perf_counter() - started
            return Outcome(user.index, seq, started - t0, latency, failure=type(exc).__name__)
        latency = time.perf_counter() - started
        code, job_id = parse_response(response)
        return Outcome(user.index, seq, started - t0, latency, response.status_code, code, job_id)

    def run(
        self, users: list[SimUser], requests_per_user: int, deadline: float
    ) -> tuple[list[Outcome], float]:
        """All requests, queued user by user so each user's requests run side by side."""
        work = [(user, seq) for user in users for seq in range(requests_per_user)]
        outcomes: list[Outcome] = []
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="bench"
        )
        t0 = time.perf_counter()
        try:
            futures = {
                pool.submit(self.post_job, user, seq, t0, deadline): (user, seq)
                for user, seq in work
            }
            # Each request is bounded by the deadline itself; the slack covers the last ones.
            done, _ = concurrent.futures.wait(
                futures, timeout=max(0.0, deadline - time.monotonic()) + 5
            )
            wall = time.perf_counter() - t0
            for future, (user, seq) in futures.items():
                if future in done:
                    outcomes.append(future.result())
                else:
                    outcomes.append(Outcome(user.index, seq, wall, 0.0, failure="unfinished"))
        finally:
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
        return outcomes, wall


# ----- verification ------------------------------------------------------------------------


def _window_digest(scope: RateScope, key: str) -> str:
    # RateWindow.document_id is "<scope>-<window start>-<digest of key>"; only the digest is
    # independent of when the request was made.
    window = window_for(scope, key, limit=1, window_seconds=3600, now=datetime.now(UTC))
    return window.document_id.rsplit("-", 1)[1]


def read_windows(db: Any) -> dict[str, int]:
    """Every rate-limit window document id with its count."""
    return {
        snap.id: int((snap.to_dict() or {}).get("count", 0))
        for snap in db.collection(RATE_WINDOWS).stream()
    }


def windows_for_key(windows: dict[str, int], scope: RateScope, key: str) -> dict[str, int]:
    digest = _window_digest(scope, key)
    return {
        doc_id: count
        for doc_id, count in windows.items()
        if doc_id.startswith(f"{scope}-") and doc_id.endswith(f"-{digest}")
    }


def verify(
    db: Any,
    users: list[SimUser],
    outcomes: list[Outcome],
    limits: Limits,
    run_prefix: str,
    windows_before: dict[str, int],
) -> tuple[list[Check], dict[str, Any]]:
    from google.cloud import firestore

    checks: list[Check] = []
    by_user: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_user[outcome.user].append(outcome)

    # All of this run's jobs in one range query on the single-field index of userId.
    docs_by_uid: dict[str, dict[str, str]] = defaultdict(dict)  # uid -> job id -> status
    query = (
        db.collection(JOBS)
        .where(filter=firestore.FieldFilter("userId", ">=", run_prefix))
        .where(filter=firestore.FieldFilter("userId", "<", run_prefix + "\uffff"))
    )
    for snap in query.stream():
        data = snap.to_dict() or {}
        docs_by_uid[str(data.get("userId"))][snap.id] = str(data.get("status"))

    counter_refs = [db.collection(ACTIVE_COUNTERS).document(u.uid) for u in users]
    counters = {
        snap.id: int((snap.to_dict() or {}).get("activeJobs", 0)) if snap.exists else 0
        for snap in db.get_all(counter_refs)
    }
    windows_after = read_windows(db)

    over, lost_ids, phantom, counter_bad, user_window_bad = [], [], [], [], []
    total_admitted = total_active_docs = total_docs = total_failed_responses = 0
    total_finished = 0
    created_by_ip: Counter[str] = Counter()
    for user in users:
        mine = by_user.get(user.index, [])
        admitted_ids = {o.job_id for o in mine if o.admitted}
        admitted = sum(1 for o in mine if o.admitted)
        # A 503 QUEUE_UNAVAILABLE names a job that was created and then marked failed.
        failed_ids = {o.job_id for o in mine if o.code == "QUEUE_UNAVAILABLE" and o.job_id}
        docs = docs_by_uid.get(user.uid, {})
        active_ids = {job_id for job_id, status in docs.items() if status in ACTIVE_STATUSES}
        # Admitted jobs that already left pending/processing (none while the worker is a stub)
        # gave their slot back, so they may be followed by further admissions.
        finished = len((admitted_ids & docs.keys()) - active_ids)
        total_admitted += admitted
        total_active_docs += len(active_ids)
        total_docs += len(docs)
        total_failed_responses += len(failed_ids)
        total_finished += finished
        created_by_ip[user.ip] += len(docs)
        if len(active_ids) > limits.max_active or admitted > limits.max_active + finished:
            over.append(
                f"{user.uid}: {admitted} admitted, {len(active_ids)} active docs, "
                f"{finished} finished"
            )
        if None in admitted_ids or admitted != len(admitted_ids) or admitted_ids - docs.keys():
            lost_ids.append(
                f"{user.uid}: {admitted} 202s, {len(admitted_ids - docs.keys())} without a doc"
            )
        unanswered = (active_ids - admitted_ids) | (docs.keys() - admitted_ids - failed_ids)
        if unanswered:
            phantom.append(f"{user.uid}: {len(unanswered)} docs that no 202/503 announced")
        if counters.get(user.uid, 0) != len(active_ids):
            counter_bad.append(
                f"{user.uid}: activeJobs={counters.get(user.uid, 0)}, active docs={len(active_ids)}"
            )
        before = windows_for_key(windows_before, RateScope.USER, user.uid)
        after = windows_for_key(windows_after, RateScope.USER, user.uid)
        delta = sum(after.values()) - sum(before.values())
        if delta != len(docs) or any(count > limits.user_rate for count in after.values()):
            user_window_bad.append(f"{user.uid}: window +{delta}, job docs {len(docs)}")

    def listed(items: list[str]) -> str:
        shown = "; ".join(items[:5])
        return shown + (f"; … {len(items) - 5} more" if len(items) > 5 else "")

    checks.append(
        Check(
            f"no user admitted beyond {limits.max_active} active jobs (no over-admission)",
            not over,
            listed(over) or f"max active docs per user: {_max_active(docs_by_uid)}",
        )
    )
    checks.append(
        Check(
            "every 202 names a distinct job doc of that user (no lost admissions)",
            not lost_ids,
            listed(lost_ids)
            or f"{total_admitted} admitted = {total_active_docs} active docs"
            + (f" + {total_finished} finished" if total_finished else ""),
        )
    )
    checks.append(
        Check(
            "every job doc was announced by a 202 or a 503 QUEUE_UNAVAILABLE (no phantoms)",
            not phantom and total_admitted + total_failed_responses == total_docs,
            listed(phantom)
            or f"{total_admitted} × 202 + {total_failed_responses} × 503 QUEUE_UNAVAILABLE "
            f"= {total_docs} docs",
        )
    )
    checks.append(
        Check(
            "activeJobCounters/{uid}.activeJobs = that user's active job docs",
            not counter_bad,
            listed(counter_bad) or f"{len(users)} counters agree",
        )
    )
    checks.append(
        Check(
            f"user rate windows count exactly the jobs created (limit {limits.user_rate})",
            not user_window_bad,
            listed(user_window_bad) or "all agree",
        )
    )
    ip_bad = []
    for ip, created in sorted(created_by_ip.items()):
        before = windows_for_key(windows_before, RateScope.IP, ip)
        after = windows_for_key(windows_after, RateScope.IP, ip)
        delta = sum(after.values()) - sum(before.values())
        if delta != created or any(count > limits.ip_rate for count in after.values()):
            ip_bad.append(f"{ip}: window +{delta} (now {sorted(after.values())}), docs {created}")
    checks.append(
        Check(
            f"IP rate windows count exactly the jobs created, none above {limits.ip_rate}",
            not ip_bad,
            listed(ip_bad) or f"{len(created_by_ip)} addresses agree",
        )
    )
    lost = [o for o in outcomes if o.status is None]
    checks.append(
        Check(
            "every request got an HTTP response",
            not lost,
            f"{len(lost)} without: {dict(Counter(o.label for o in lost))}" if lost else "yes",
        )
    )
    expected = {"202", "429 CONCURRENCY_LIMIT", "429 RATE_LIMITED", "503 CONTENTION"}
    expected.add("503 QUEUE_UNAVAILABLE")
    odd = Counter(o.label for o in outcomes if o.status is not None and o.label not in expected)
    checks.append(
        Check(
            "only 202, 429 (limits) or 503 (contention/queue) answers",
            not odd,
            str(dict(odd)) if odd else "yes",
        )
    )
    facts = {
        "job_docs": total_docs,
        "active_job_docs": total_active_docs,
        "admitted": total_admitted,
        "queue_unavailable_docs": total_failed_responses,
        "max_active_docs_per_user": _max_active(docs_by_uid),
        "admitted_jobs_finished": total_finished,
    }
    return checks, facts


def _max_active(docs_by_uid: dict[str, dict[str, str]]) -> int:
    return max(
        (sum(1 for s in docs.values() if s in ACTIVE_STATUSES) for docs in docs_by_uid.values()),
        default=0,
    )


# ----- stack -------------------------------------------------------------------------------


@contextlib.contextmanager
def target_stack(
    api_url: str | None,
    project: str | None,
    firestore_host: str | None,
    limits: Limits,
    console: Console,
    *,
    api_workers: int = 1,
    api_threads: int | None = None,
) -> Iterator[Target]:
    if api_url:
        if not (project and firestore_host):
            raise StackError("--api-url needs --project and --firestore too")
        yield Target(api_url.rstrip("/"), project, firestore_host, own_stack=False)
        return
    ports = distinct_free_ports(5)
    config = StackConfig(
        project_id=BENCH_PROJECT,
        firestore_port=ports[0],
        tasks_port=ports[1],
        api_port=ports[2],
        worker_port=ports[3],
        cleanup_port=ports[4],
        log_dir=BENCH_LOG_DIR,
        function_env={
            "MAX_CONCURRENT_PER_USER": str(limits.max_active),
            "USER_RATE_LIMIT": str(limits.user_rate),
            "IP_RATE_LIMIT": str(limits.ip_rate),
            # functions-framework's gunicorn: processes, and threads in each.
            "WORKERS": str(api_workers),
            **({"THREADS": str(api_threads)} if api_threads else {}),
        },
    )
    names = ("firestore", "tasks", "api", "worker", "cleanup")
    console.print(
        f"Starting a private stack (project {config.project_id}, ports "
        + ", ".join(f"{n} {p}" for n, p in zip(names, ports, strict=True))
        + f"; logs in {config.log_dir.relative_to(ROOT)}) …"
    )
    started = time.monotonic()
    stack = Stack(config)
    try:
        # An interrupt that lands inside subprocess.Popen would orphan the child it is
        # starting (the stack only learns of a process once Popen returns), so Ctrl-C and
        # SIGTERM wait until the stack is up, or down.
        with signals_deferred(console):
            stack.start()
        console.print(f"Stack up in {time.monotonic() - started:.1f} s.")
        # functions-framework's default: one gunicorn worker with 4 threads per CPU.
        threads = int(stack.function_env().get("THREADS") or os.environ.get("THREADS") or 0) or (
            (os.cpu_count() or 1) * 4
        )
        yield Target(
            config.api_url,
            config.project_id,
            config.firestore_address,
            own_stack=True,
            api_threads=threads,
            api_workers=api_workers,
            ports=dict(zip(names, ports, strict=True)),
            firestore_log=config.log_dir / "firestore.log",
        )
    finally:
        console.print("Stopping the private stack …")
        with signals_deferred(console):
            stack.stop()


@contextlib.contextmanager
def signals_deferred(console: Console) -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done, then raise KeyboardInterrupt."""
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if not pending:
            console.print("Interrupt received; stopping once the stack is in a safe state …")
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        raise KeyboardInterrupt(f"signal {pending[0]}")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ----- report ------------------------------------------------------------------------------


def _ms(value: float | int | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def setup_table(info: dict[str, str]) -> Table:
    table = Table(title="What was measured, and how", show_header=False, title_justify="left")
    table.add_column("item", style="bold")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, escape(value))
    return table


def results_tables(
    outcomes: list[Outcome], wall: float
) -> tuple[Table, Table, Table, dict[str, Any]]:
    answered = [o for o in outcomes if o.status is not None]
    summary = Table(title="Throughput", show_header=False, title_justify="left")
    summary.add_column("item", style="bold")
    summary.add_column("value", justify="right")
    admitted = [o for o in outcomes if o.admitted]
    rps = len(answered) / wall if wall > 0 else 0.0
    summary.add_row("requests sent", str(len(outcomes)))
    summary.add_row("responses", str(len(answered)))
    summary.add_row("admitted (202)", str(len(admitted)))
    summary.add_row("wall time", f"{wall:.2f} s")
    summary.add_row("responses/s", f"{rps:.1f}")
    summary.add_row("admissions/s", f"{len(admitted) / wall:.1f}" if wall > 0 else "–")

    groups = {
        "all responses": [o.latency for o in answered],
        "admitted (202)": [o.latency for o in admitted],
        "rejected 429": [o.latency for o in answered if o.status == 429],
        "503 (contention/queue)": [o.latency for o in answered if o.status == 503],
    }
    latency = Table(title="Latency (ms, client side)", title_justify="left")
    for column in ("requests", "n", "p50", "p95", "p99", "max", "mean"):
        latency.add_column(column, justify="left" if column == "requests" else "right")
    stats: dict[str, Any] = {}
    for name, values in groups.items():
        s = latency_summary(values)
        stats[name] = s
        latency.add_row(
            name,
            str(s["n"]),
            *(_ms(s[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")),
        )

    counts = Table(title="Answers by HTTP status and error code", title_justify="left")
    counts.add_column("answer")
    counts.add_column("count", justify="right")
    counts.add_column("share", justify="right")
    by_label = Counter(o.label for o in outcomes)
    for label, count in sorted(by_label.items()):
        counts.add_row(escape(label), str(count), f"{100 * count / max(1, len(outcomes)):.1f}%")
    figures = {
        "requests": len(outcomes),
        "responses": len(answered),
        "admitted": len(admitted),
        "wall_s": wall,
        "responses_per_s": rps,
        "latency": stats,
        "answers": dict(by_label),
    }
    return summary, latency, counts, figures


LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def histogram_table(outcomes: list[Outcome]) -> tuple[Table, dict[str, int]]:
    """Responses by latency bucket: lock waits show up as steps of the emulator's timeout."""
    answered = [o for o in outcomes if o.status is not None]
    edges = [0.0, *LATENCY_BUCKETS, math.inf]
    table = Table(title="Latency distribution (all responses)", title_justify="left")
    table.add_column("latency")
    table.add_column("responses", justify="right")
    table.add_column("of which 202", justify="right")
    buckets: dict[str, int] = {}
    for low, high in itertools.pairwise(edges):
        inside = [o for o in answered if low <= o.latency < high]
        name = f"≥ {low:g} s" if math.isinf(high) else f"{low:g}–{high:g} s"
        buckets[name] = len(inside)
        if inside:
            table.add_row(name, str(len(inside)), str(sum(1 for o in inside if o.admitted)))
    return table, buckets


LOCK_TIMEOUT_MARK = "Operation failed: Transaction lock timeout"


def lock_timeouts(log: Path | None) -> int | None:
    """How many transaction lock timeouts the Firestore emulator has logged so far."""
    if log is None:
        return None
    try:
        with log.open(errors="replace") as handle:
            return sum(1 for line in handle if LOCK_TIMEOUT_MARK in line)
    except OSError:
        return None


def checks_table(checks: list[Check]) -> Table:
    table = Table(title="Verification (read back from Firestore)", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in checks:
        result = "[green]PASS[/]" if check.ok else "[red]FAIL[/]"
        table.add_row(escape(check.name), result, escape(check.detail))
    return table


# ----- CLI ---------------------------------------------------------------------------------

cli = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


@cli.command()
def main(
    users: int = typer.Option(30, min=1, max=5000, help="Simulated users, each with its own IP."),
    requests_per_user: int = typer.Option(
        5, min=1, max=100, help="POST /jobs per user, all sent at once."
    ),
    shared_ip_users: int = typer.Option(
        0, min=0, max=5000, help="Extra users that all share one X-Forwarded-For address."
    ),
    concurrency: int = typer.Option(32, min=1, max=256, help="Client threads."),
    timeout: float = typer.Option(
        300.0,
        min=5.0,
        help="Seconds the whole run may take; requests not sent by then count as failures.",
    ),
    request_timeout: float = typer.Option(60.0, min=1.0, help="Seconds per request at most."),
    max_active: int = typer.Option(
        DEFAULT_MAX_ACTIVE, min=1, help="Active-job limit per user (set on a private stack)."
    ),
    user_rate_limit: int = typer.Option(
        DEFAULT_USER_RATE_LIMIT, min=1, help="Jobs per user per window (set on a private stack)."
    ),
    ip_rate_limit: int = typer.Option(
        DEFAULT_IP_RATE_LIMIT, min=1, help="Jobs per IP per window (set on a private stack)."
    ),
    api_url: str | None = typer.Option(
        None, help="Use the running stack whose api function is at this URL."
    ),
    project: str | None = typer.Option(None, help="Project id of that stack."),
    firestore: str | None = typer.Option(None, help="host:port of that stack's emulator."),
    api_workers: int = typer.Option(
        1, min=1, max=8, help="gunicorn worker processes of each function (private stack)."
    ),
    api_threads: int | None = typer.Option(
        None, min=1, max=256, help="Threads per worker (private stack; default 4 per CPU)."
    ),
    json_out: str | None = typer.Option(None, help="Also write the figures to this JSON file."),
) -> None:
    """Measure POST /jobs under parallel load and assert no over-admission."""
    console = Console(width=None if sys.stdout.isatty() else 140)
    started_at = datetime.now(UTC)
    deadline = time.monotonic() + timeout
    signal.signal(signal.SIGTERM, _raise_interrupt)
    limits = Limits(max_active, user_rate_limit, ip_rate_limit)
    load_before = load_average()
    # Read before the stack starts: the functions import the code as it is at that moment.
    code = code_version()
    try:
        with target_stack(
            api_url,
            project,
            firestore,
            limits,
            console,
            api_workers=api_workers,
            api_threads=api_threads,
        ) as target:
            status = run(
                console,
                target,
                limits,
                users=users,
                requests_per_user=requests_per_user,
                shared_ip_users=shared_ip_users,
                concurrency=concurrency,
                request_timeout=request_timeout,
                timeout=timeout,
                deadline=deadline,
                started_at=started_at,
                load_before=load_before,
                code=code,
                json_out=Path(json_out) if json_out else None,
            )
    except KeyboardInterrupt:
        console.print("[red]Interrupted; the stack (if this run started one) was stopped.[/]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (StackError, httpx.HTTPError, RuntimeError) as exc:
        console.print(f"[red]The benchmark could not run: {escape(str(exc))}[/]")
        raise typer.Exit(EXIT_NOT_RUN) from exc
    raise typer.Exit(status)


def run(
    console: Console,
    target: Target,
    limits: Limits,
    *,
    users: int,
    requests_per_user: int,
    shared_ip_users: int,
    concurrency: int,
    request_timeout: float,
    timeout: float,
    deadline: float,
    started_at: datetime,
    load_before: str,
    code: str,
    json_out: Path | None,
) -> int:
    os.environ["FIRESTORE_EMULATOR_HOST"] = target.firestore
    from google.cloud import firestore

    db = firestore.Client(project=target.project_id)
    run_id = secrets.token_hex(4)
    salt = secrets.randbelow(256)
    sim = make_users(run_id, target.project_id, users, shared_ip_users, salt, int(timeout) + 3600)
    run_prefix = f"bench-{run_id}-"

    # Warm-up: the first request builds the Firestore, Cloud Tasks and firebase-admin clients
    # inside the api process; that one-off cost is not what this benchmark measures.
    warm = make_users(f"{run_id}w", target.project_id, 1, 0, (salt + 128) % 256)[0]
    with httpx.Client(base_url=target.api_url, trust_env=False, timeout=60) as client:
        client.get("/healthz").raise_for_status()
        response = client.post(
            "/jobs", json={"prompt": "Benchmark warm-up prompt"}, headers=headers_for(warm)
        )
        if response.status_code != 202:
            raise RuntimeError(
                f"warm-up POST /jobs answered {response.status_code}: {response.text}"
            )
    windows_before = read_windows(db)

    info = {
        "date (UTC)": started_at.strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.create_jobs " + shlex.join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}, load avg before {load_before}",
        "python": platform.python_version(),
        "code": code
        + ("" if target.own_stack else " (this checkout; the running stack may differ)"),
        "stack": (
            f"private, started by this run: project {target.project_id}, "
            + ", ".join(f"{k} :{v}" for k, v in target.ports.items())
            if target.own_stack
            else f"existing: {target.api_url}, project {target.project_id}, "
            f"firestore {target.firestore}"
        ),
        "emulators": f"Firestore emulator {firestore_emulator_version()} (Java {_java()}), "
        f"gcloud-tasks-emulator {tasks_emulator_version()}",
        "api server": (
            f"functions-framework/gunicorn, {target.api_workers} worker process(es) × "
            f"{target.api_threads} threads; the per-user admission lock, if any, is per process"
            if target.api_threads
            else "as configured by that stack"
        ),
        "limits": f"{limits.max_active} active jobs/user, {limits.user_rate}/window/user, "
        f"{limits.ip_rate}/window/IP (window 1 h unless the stack says otherwise)",
        "load": f"{users} users × {requests_per_user} requests, own IP each"
        + (f"; + {shared_ip_users} users sharing one IP" if shared_ip_users else "")
        + f"; {len(sim) * requests_per_user} requests in total",
        "client": f"{concurrency} threads, one httpx client each, requests queued user by user "
        f"(a user's requests race each other); per-request timeout {request_timeout:.0f} s, "
        f"whole run {timeout:.0f} s",
        "warm-up": "1 GET /healthz + 1 POST /jobs by a separate user, not counted",
    }
    console.print(setup_table(info))
    console.print(f"Sending {len(sim) * requests_per_user} requests …")

    timeouts_before = lock_timeouts(target.firestore_log)
    runner = LoadRunner(target.api_url, concurrency, request_timeout)
    try:
        outcomes, wall = runner.run(sim, requests_per_user, deadline)
    finally:
        runner.close()
    load_after = load_average()
    summary, latency, counts, figures = results_tables(outcomes, wall)
    console.print(summary)
    console.print(latency)
    histogram, buckets = histogram_table(outcomes)
    console.print(histogram)
    console.print(counts)
    timeouts_after = lock_timeouts(target.firestore_log)
    lock_timeout_count = (
        timeouts_after - timeouts_before
        if timeouts_before is not None and timeouts_after is not None
        else None
    )
    if lock_timeout_count is not None:
        console.print(
            f"Firestore emulator transaction lock timeouts during the load: {lock_timeout_count} "
            "(each is a transaction attempt that waited for the emulator's lock timeout and "
            "was aborted, then retried by the client or answered 503 CONTENTION)."
        )

    admitted_per_user = Counter(o.user for o in outcomes if o.admitted)
    expected_each = min(requests_per_user, limits.max_active)
    short = [u for u in sim if not u.shared_ip and admitted_per_user[u.index] < expected_each]
    console.print(
        f"Load average after: {load_after}. Users (own IP) admitted fewer than "
        f"{expected_each} jobs: {len(short)} of {users}"
        + (" (lost to 503s or missing responses, not to the limits)" if short else "")
        + "."
    )

    checks, facts = verify(db, sim, outcomes, limits, run_prefix, windows_before)
    console.print(checks_table(checks))
    failed = [c for c in checks if not c.ok]
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps(
                {
                    "setup": info,
                    "load_average_after": load_after,
                    "latency_buckets": buckets,
                    "emulator_lock_timeouts": lock_timeout_count,
                    "figures": figures,
                    "users_below_expected_admissions": len(short),
                    "firestore": facts,
                    "checks": [asdict(c) for c in checks],
                },
                indent=2,
                default=str,
            )
        )
    if failed:
        console.print(
            f"[red bold]FAILED: {len(failed)} check(s) failed: "
            + "; ".join(c.name for c in failed)
            + "[/]"
        )
        return EXIT_CHECK_FAILED
    console.print("[green bold]All checks passed: no over-admission, no lost admissions.[/]")
    return EXIT_OK


def _java() -> str:
    try:
        result = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=20, check=False
        )
        first = (result.stderr or result.stdout).splitlines()[0]
        return first.split('"')[1] if '"' in first else first
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


if __name__ == "__main__":
    cli()
