"""The reference web client (clients/web) in headless Chromium against the whole local stack.

The app is built with Vite for this stack (its api, the Firestore emulator, the test project),
served from a loopback port that an extra api function allows through CORS, and driven with
Playwright using Debian's chromium (no browser download). The learner signs in as a local user;
the panel is fed by Firestore listeners evaluated under the security rules.

Screenshots land in .dev/screenshots/; with QGEN_UPDATE_SCREENSHOTS=1 (`make screenshots`) the
ones the docs show are also written to docs/img/.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from qgen.adapters.firestore.documents import RESERVED, SPENT, budget_id
from qgen.adapters.firestore.names import TOKEN_BUDGETS
from qgen.domain.budgets import budget_day

from dev.model_server.client import AdminClient
from dev.stack import ROOT, Stack, free_port
from tests.conftest import PROJECT_ID
from tests.e2e.conftest import ApiSpawner, bearer
from tests.support.e2e import fresh_model, wait_for

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

WEB = ROOT / "clients" / "web"
CHROMIUM = Path(os.environ.get("QGEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / ".dev" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "img"
PLACEHOLDER = (
    "What would you like to learn about? (e.g., 'NATO alphabet', 'React hooks', 'Periodic table')"
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_origin() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def web_api(spawner: ApiSpawner, web_origin: str) -> str:
    """An api function of the stack (real worker) that lets the web client's origin in."""
    return spawner(cors_allowed_origins=web_origin).rstrip("/")


@pytest.fixture(scope="module")
def web_app(
    stack: Stack, web_api: str, web_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The production build of the web client, configured for this stack, served statically."""
    if not (WEB / "node_modules" / ".bin" / "vite").exists():
        pytest.fail("clients/web/node_modules is missing: run `make web-deps` (npm ci)")
    out = tmp_path_factory.mktemp("web-dist")
    env = {
        **os.environ,
        "VITE_QGEN_MODE": "local",
        "VITE_QGEN_PROJECT_ID": PROJECT_ID,
        "VITE_QGEN_API_URL": web_api,
        "VITE_QGEN_FIRESTORE_EMULATOR": stack.config.firestore_address,
    }
    build = subprocess.run(
        [str(WEB / "node_modules" / ".bin" / "vite"), "build", "--outDir", str(out)],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    port = int(web_origin.rsplit(":", 1)[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=out))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield web_origin
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def model(stack: Stack) -> Iterator[AdminClient]:
    with fresh_model(stack) as admin:
        # Slow enough that progress is visible: about 0.3 s per question.
        admin.config(paceMs=40)
        yield admin


@pytest.fixture
def open_page(browser: Any, web_app: str, db: Any) -> Iterator[Callable[..., Any]]:
    """open_page(uid, viewport): a fresh browser context signed in as that local user."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _open(uid: str, viewport: dict[str, int] = DESKTOP, timezone: str | None = None) -> Any:
        options: dict[str, Any] = {"viewport": viewport}
        if timezone:
            options["timezone_id"] = timezone
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{uid}: {exc}"))
        page.goto(web_app + "/")
        page.get_by_label("User name").fill(uid)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Your study questions")).to_be_visible()
        expect(page.locator("#user-label")).to_have_text(f"{uid} (local)")
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def shoot(page: Any, name: str, *, doc: bool = False, target: Any = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    (target or page).screenshot(path=str(path), animations="disabled")
    if doc and os.environ.get("QGEN_UPDATE_SCREENSHOTS"):
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / name)


def card(page: Any, topic: str) -> Any:
    return page.locator(".job-card").filter(has=page.get_by_role("heading", name=topic))


def submit(page: Any, prompt: str) -> None:
    page.locator("#new-job").click()
    dialog = page.get_by_role("dialog", name="Generate questions")
    expect(dialog).to_be_visible()
    box = dialog.get_by_label("What would you like to learn about?")
    expect(box).to_have_attribute("placeholder", PLACEHOLDER)
    expect(box).to_be_focused()
    box.fill(prompt)
    box.press("Enter")
    # The dialog closes at once, before the API has answered.
    expect(dialog).to_be_hidden(timeout=500)


def progress_value(page: Any, topic: str) -> int:
    bar = card(page, topic).locator("progress")
    if bar.count() == 0:
        return -1
    return int(bar.evaluate("e => e.value"))


wait_until = functools.partial(wait_for, timeout=30)

# UTC+05:30 all year: the budgets' midnight UTC is 05:30 there, never the same clock time.
KOLKATA = "Asia/Kolkata"


def limit_value(page: Any, name: str) -> Any:
    return page.locator(f'.limits [data-limit="{name}"] .limit-value')


def renews(moment: datetime, timezone: str) -> str:
    """How the panel words a reset time: "at 05:30" today, "tomorrow at 05:30" otherwise."""
    zone = ZoneInfo(timezone)
    local, today = moment.astimezone(zone), datetime.now(zone).date()
    day = "tomorrow " if local.date() == today + timedelta(days=1) else ""
    return f"{day}at {local:%H:%M}"


def next_midnight_utc() -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)


def seed_spend(db: Any, uid: str, spent: int) -> None:
    """Today's token budget document of `uid`, as the unit of work keeps it."""
    day = budget_day(datetime.now(UTC))
    db.collection(TOKEN_BUDGETS).document(budget_id(uid, day)).set(
        {RESERVED: 0, SPENT: spent, "userId": uid, "day": day}
    )


def test_learner_follows_jobs_live_cancels_one_and_opens_the_questions_of_another(
    open_page: Callable[..., Any], model: AdminClient
) -> None:
    page = open_page("alice")
    badge = page.locator("#active-badge")
    toggle = page.locator("#tasks-toggle")

    # Nothing yet: the panel says so, the badge is hidden; Escape closes it, focus returns.
    toggle.click()
    panel = page.get_by_role("dialog", name="Background tasks")
    expect(panel).to_be_visible()
    expect(panel.get_by_text("No background tasks")).to_be_visible()
    expect(badge).to_be_hidden()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()

    # Two prompts; each closes the dialog at once and toasts; the badge counts both.
    started = page.get_by_role("status").filter(has_text="Generation started")
    submit(page, "NATO alphabet")
    expect(started).to_have_count(1)
    expect(badge).to_have_text("1")
    started.get_by_role("button", name="Dismiss").click()
    expect(started).to_have_count(0)
    submit(page, "8 questions about world capitals")
    expect(started).to_have_count(1)
    expect(badge).to_have_text("2")
    expect(toggle).to_have_attribute("aria-label", "Background tasks, 2 active")

    toggle.click()
    expect(panel).to_be_visible()
    expect(panel.locator(".job-card")).to_have_count(2)
    nato = card(page, "NATO phonetic alphabet")
    expect(nato).to_have_attribute("data-status", "processing", timeout=15_000)
    expect(nato.locator(".job-phase")).to_have_text("Generating questions…")
    # Progress advances while we watch: the bar and the count follow questionsSaved.
    wait_until(lambda: progress_value(page, "NATO phonetic alphabet") >= 1, what="a question")
    first = progress_value(page, "NATO phonetic alphabet")
    wait_until(lambda: progress_value(page, "NATO phonetic alphabet") > first, what="progress")
    expect(nato.locator("progress")).to_have_attribute("max", "40")
    expect(nato.locator(".job-count")).to_have_text(re.compile(r"^\d+ of 40 questions$"))
    shoot(page, "web-panel-progress.png", doc=True)

    # Cancel one: its card keeps the partial count and links to the partial results.
    nato.get_by_role("button", name="Cancel NATO phonetic alphabet").click()
    expect(nato).to_have_attribute("data-status", "cancelled")
    kept = int(re.match(r"\d+", nato.locator(".job-count").inner_text()).group())  # type: ignore[union-attr]
    assert 0 < kept < 40
    expect(nato.get_by_role("link", name=re.compile("View partial results"))).to_be_visible()

    # Let the other complete: check mark, count, "View questions", time ago.
    capitals = card(page, "World capitals")
    expect(capitals).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(capitals.locator(".job-icon-completed")).to_have_text("✓")
    expect(capitals.locator(".job-count")).to_have_text("8 questions")
    expect(capitals.locator("time")).to_have_text("just now")
    expect(badge).to_be_hidden()
    expect(toggle).to_have_attribute("aria-label", "Background tasks")
    shoot(page, "web-panel-done.png", doc=True)

    # Its questions, read live from Firestore.
    capitals.get_by_role("link", name=re.compile("View questions")).click()
    expect(panel).to_be_hidden()
    expect(page.get_by_role("heading", name="World capitals", level=2)).to_be_visible()
    expect(page.locator(".job-summary")).to_have_text("Completed · 8 questions")
    questions = page.get_by_role("list", name="Questions").locator(":scope > li")
    expect(questions).to_have_count(8)
    expect(questions.first.locator(".correct")).to_have_count(1)
    shoot(page, "web-questions.png", doc=True)

    # And the partial results of the cancelled job.
    page.locator("#tasks-toggle").click()
    nato.get_by_role("link", name=re.compile("View partial results")).click()
    expect(page.locator(".job-summary")).to_have_text(
        f"Cancelled · partial results, {kept} question{'s' if kept != 1 else ''} kept"
    )
    expect(questions).to_have_count(kept)


def test_failed_jobs_show_the_error_and_retry_only_when_it_can_help(
    open_page: Callable[..., Any], model: AdminClient
) -> None:
    page = open_page("alice")
    page.locator("#tasks-toggle").click()

    # A final error that retrying cannot fix: the message, no Retry button.
    model.add_faults({"kind": "api_key_invalid", "call": "stream"})
    submit(page, "3 questions about chemical elements")
    broken = page.locator(".job-card").first
    expect(broken).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(broken.locator(".job-error")).to_contain_text("misconfigured")
    expect(broken.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)

    # The model stays over quota for every delivery: the job ends failed, retryable.
    model.add_faults({"kind": "http_error", "code": 429, "call": "stream", "times": 5})
    submit(page, "8 questions about world capitals")
    job = card(page, "8 questions about world capitals")
    expect(job).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(job.locator(".job-error")).to_contain_text("over its usage limit")
    shoot(page, "web-panel-failed.png", doc=True)
    job.get_by_role("button", name="Retry 8 questions about world capitals").click()
    expect(page.get_by_role("status").filter(has_text="Retrying")).to_be_visible()
    expect(card(page, "World capitals")).to_have_attribute(
        "data-status", "completed", timeout=30_000
    )
    expect(card(page, "World capitals").locator(".job-count")).to_have_text("8 questions")


def test_pending_jobs_wait_then_show_retrying_and_can_be_cancelled(
    open_page: Callable[..., Any], spawn_api: Callable[..., str], db: Any
) -> None:
    # Created through an api whose tasks are parked: the job stays pending.
    with httpx.Client(base_url=spawn_api(), timeout=60) as parked:
        response = parked.post("/jobs", json={"prompt": "NATO alphabet"}, headers=bearer("alice"))
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    page = open_page("alice")
    expect(page.locator("#active-badge")).to_have_text("1")
    page.locator("#tasks-toggle").click()
    pending = page.locator(f'[data-job-id="{job_id}"]')
    expect(pending).to_have_attribute("data-status", "pending")
    expect(pending.locator(".spinner")).to_be_visible()
    expect(pending.locator(".job-phase")).to_have_text("Waiting to start")

    # What the worker records after a transient failure with deliveries left.
    db.collection("generationJobs").document(job_id).update(
        {"lastErrorCode": "RATE_LIMIT", "errorMessage": "over quota"}
    )
    expect(pending.locator(".job-phase")).to_have_text("Retrying…")

    pending.get_by_role("button", name="Cancel NATO alphabet").focus()
    page.keyboard.press("Enter")
    expect(pending).to_have_attribute("data-status", "cancelled")
    expect(pending.locator(".job-count")).to_have_text("0 questions kept")
    expect(pending.get_by_role("link")).to_have_count(0)
    expect(page.locator("#active-badge")).to_be_hidden()


def test_the_panel_shows_the_learners_limits_and_they_follow_a_new_job(
    open_page: Callable[..., Any], live_api: httpx.Client, model: AdminClient
) -> None:
    page = open_page("alice", timezone=KOLKATA)
    page.locator("#tasks-toggle").click()
    panel = page.get_by_role("dialog", name="Background tasks")
    limits = panel.get_by_role("region", name="Your limits")
    expect(limits).to_be_visible()
    # Fetched from GET /limits as the panel opens: nothing used yet.
    expect(limit_value(page, "active")).to_have_text("0 of 3")
    expect(limit_value(page, "hourly")).to_have_text("0 of 20")
    expect(limit_value(page, "daily")).to_have_text("About 10 more jobs today")
    daily_note = page.locator('.limits [data-limit="daily"] .limit-note')
    # Midnight UTC, in the learner's own time zone.
    expect(daily_note).to_have_text(f"Renews {renews(next_midnight_utc(), KOLKATA)}")
    expect(page.locator('.limits [data-limit="hourly"] .limit-note')).to_be_hidden()
    expect(limits).to_have_attribute("aria-busy", "false")
    for term in ("Active jobs", "Jobs this hour", "Today's budget"):
        expect(limits.get_by_role("term").filter(has_text=term)).to_have_count(1)

    # A new job takes a slot, a place in this hour's window and a reservation of tokens.
    submit(page, "NATO alphabet")
    nato = card(page, "NATO phonetic alphabet")
    expect(nato).to_have_attribute("data-status", "processing", timeout=15_000)
    expect(limit_value(page, "active")).to_have_text("1 of 3")
    expect(limit_value(page, "hourly")).to_have_text("1 of 20")
    expect(limit_value(page, "daily")).to_have_text("About 9 more jobs today")
    bar = page.locator('.limits [data-limit="active"] .limit-bar > span')
    assert bar.evaluate("e => e.style.width") == "33%"

    # When it ends (cancelled here) the slot and the reservation come back; what the job
    # really used stays spent, and the hour's window keeps counting it.
    nato.get_by_role("button", name="Cancel NATO phonetic alphabet").click()
    expect(nato).to_have_attribute("data-status", "cancelled")
    expect(limit_value(page, "active")).to_have_text("0 of 3")
    expect(limit_value(page, "hourly")).to_have_text("1 of 20")
    served = live_api.get("/limits", headers=bearer("alice")).json()
    assert served["activeJobs"] == {"used": 0, "limit": 3}
    assert served["dailyTokens"]["reserved"] == 0
    left = served["dailyTokens"]["jobsRemaining"]
    expect(limit_value(page, "daily")).to_have_text(
        f"About {left} more job{'s' if left != 1 else ''} today"
    )

    # A job another client starts (the CLI, the API) moves them too: the listener notices.
    created = live_api.post(
        "/jobs", json={"prompt": "3 questions about world capitals"}, headers=bearer("alice")
    )
    assert created.status_code == 202, created.text
    expect(limit_value(page, "hourly")).to_have_text("2 of 20")
    expect(card(page, "World capitals")).to_have_attribute(
        "data-status", "completed", timeout=30_000
    )
    expect(limit_value(page, "active")).to_have_text("0 of 3")


def test_budget_refusals_are_toasts_in_the_learners_words_and_local_time(
    open_page: Callable[..., Any], db: Any, model: AdminClient
) -> None:
    # Today's budget all but spent: what is left cannot hold a job's reservation.
    seed_spend(db, "alice", 38_000)
    page = open_page("alice", timezone=KOLKATA)
    page.locator("#tasks-toggle").click()
    expect(limit_value(page, "daily")).to_have_text("No more jobs today")
    expect(page.locator('.limits [data-limit="daily"]')).to_have_class(re.compile("limit-full"))
    when = renews(next_midnight_utc(), KOLKATA)

    submit(page, "NATO alphabet")
    refused = page.get_by_role("alert").filter(has_text="BUDGET_EXCEEDED")
    expect(refused.locator("span")).to_have_text(
        re.compile(
            r"^Could not start: You have used today's question allowance\. "
            rf"It renews {when} \(in ((\d+ h )?\d+ min|less than a minute)\)\. "
            r"\(BUDGET_EXCEEDED\)$"
        )
    )
    expect(page.locator(".job-card")).to_have_count(0)
    shoot(page, "web-panel-budget.png", doc=True)
    refused.get_by_role("button", name="Dismiss").click()

    # The whole service's day spent (another learner's spend counts too): a 503 with its words.
    seed_spend(db, "alice", 0)
    seed_spend(db, "everyone-else", 40_000_000)
    submit(page, "NATO alphabet")
    exhausted = page.get_by_role("alert").filter(has_text="SERVICE_BUDGET_EXHAUSTED")
    expect(exhausted).to_contain_text(
        f"The service has reached its question limit for today. Try again {when} (in "
    )
    expect(page.locator(".job-card")).to_have_count(0)
    # The learner's own numbers are fetched again after the refusal.
    expect(limit_value(page, "daily")).to_have_text("About 10 more jobs today")


def test_a_second_user_sees_none_of_the_first_users_jobs_on_a_phone(
    open_page: Callable[..., Any], live_api: httpx.Client, model: AdminClient
) -> None:
    response = live_api.post(
        "/jobs", json={"prompt": "3 questions about world capitals"}, headers=bearer("alice")
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]

    alice = open_page("alice", PHONE)
    alice.locator("#tasks-toggle").click()
    expect(alice.locator(f'[data-job-id="{job_id}"]')).to_have_attribute(
        "data-status", "completed", timeout=30_000
    )
    shoot(alice, "web-phone-panel.png", doc=True)

    bob = open_page("bob", PHONE)
    bob.locator("#tasks-toggle").click()
    panel = bob.get_by_role("dialog", name="Background tasks")
    expect(panel.get_by_text("No background tasks")).to_be_visible()
    expect(panel.locator(".job-card")).to_have_count(0)
    expect(bob.locator("#active-badge")).to_be_hidden()
    # Bob's own limits: alice's job is not counted against him.
    expect(panel.get_by_role("region", name="Your limits")).to_be_visible()
    expect(limit_value(bob, "active")).to_have_text("0 of 3")
    expect(limit_value(bob, "hourly")).to_have_text("0 of 20")
    # The panel fits the phone's width; nothing scrolls sideways.
    box = wait_until(
        lambda: (b := panel.bounding_box()) and abs(b["x"]) < 1 and b, what="the panel to slide in"
    )
    assert box["width"] <= PHONE["width"] + 0.5
    assert bob.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(bob, "web-phone-empty.png", doc=True)

    # The rules refuse bob the job document and its questions, even by id.
    bob.keyboard.press("Escape")
    bob.goto(alice.url.split("#")[0] + f"#/jobs/{job_id}")
    expect(bob.get_by_role("alert")).to_have_text(
        "This job was not found, or it belongs to someone else."
    )
    expect(bob.get_by_role("list", name="Questions").locator("li")).to_have_count(0)

    # API errors come back as an error toast with the service's code.
    submit(bob, "ab")
    expect(bob.get_by_role("alert").filter(has_text="PROMPT_TOO_SHORT")).to_be_visible()


def test_make_web_serves_the_client_for_the_running_stack(stack: Stack) -> None:
    """`make web` (clients/web/serve.py) reuses a running stack and stops what it started."""
    port = free_port()
    c = stack.config
    env = {
        **os.environ,
        "DEV_API_PORT": str(c.api_port),
        "DEV_FIRESTORE_PORT": c.firestore_address.rsplit(":", 1)[1],
        "DEV_PROJECT_ID": PROJECT_ID,
        "WEB_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "clients.web.serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        seen = ""
        for line in server.stdout:
            seen += line
            if "Web client on" in line or "error" in line.lower():
                break
        assert f"Using the running stack: api {c.api_url}" in seen, seen
        assert f"Web client on http://127.0.0.1:{port}/" in seen, seen
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert PLACEHOLDER.replace("'", "&#39;") in page.text or PLACEHOLDER in page.text
        module = httpx.get(f"http://127.0.0.1:{port}/src/config.ts", timeout=10).text
        assert f'"VITE_QGEN_API_URL": "{c.api_url}"' in module
        assert f'"VITE_QGEN_PROJECT_ID": "{PROJECT_ID}"' in module
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=30)
    assert code == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
