"""The load: simulated users, each with a token and an address, sending POST /jobs at once."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import queue
import threading
import time

import httpx

from benchmarks.job_creation.model import Outcome, SimUser
from dev.tokens import emulator_id_token


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


def headers_for(user: SimUser) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {user.token}",
        "Content-Type": "application/json",
        "X-Forwarded-For": user.ip,
    }


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


class LoadRunner:
    """Sends every request once through a bounded thread pool, one httpx.Client per thread.

    The clients are made before the clock starts, as the learners' apps are open before they
    tap: an httpx.Client builds an SSL context (the CA bundle: tens of ms of CPU), and made at
    each thread's first request they put ~1 s of this process's work into the burst being
    measured, on the cores the service under test runs on."""

    def __init__(self, api_url: str, concurrency: int, request_timeout: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.concurrency = concurrency
        self.request_timeout = request_timeout
        self.stop = threading.Event()
        self._idle: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def open_clients(self, count: int) -> None:
        for _ in range(count):
            # trust_env=False: loopback traffic must never go through an HTTP(S)_PROXY.
            client = httpx.Client(base_url=self.api_url, trust_env=False)
            with self._lock:
                self._clients.append(client)
            self._idle.put(client)

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
        client = self._idle.get()
        try:
            response = client.post("/jobs", json=body, headers=headers_for(user), timeout=timeout)
        except httpx.HTTPError as exc:
            latency = time.perf_counter() - started
            return Outcome(user.index, seq, started - t0, latency, failure=type(exc).__name__)
        finally:
            self._idle.put(client)
        latency = time.perf_counter() - started
        code, job_id = parse_response(response)
        return Outcome(user.index, seq, started - t0, latency, response.status_code, code, job_id)

    def run(
        self, users: list[SimUser], requests_per_user: int, deadline: float
    ) -> tuple[list[Outcome], float]:
        """All requests, queued user by user so each user's requests run side by side."""
        work = [(user, seq) for user in users for seq in range(requests_per_user)]
        self.open_clients(min(self.concurrency, len(work)))
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
