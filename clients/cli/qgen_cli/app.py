"""qgen: generate study questions from the command line.

\b
    qgen login alice                  # a local user on the local stack (`make dev`)
    qgen generate "NATO alphabet"     # submit, then live progress (Ctrl-C offers to cancel)
    qgen jobs                         # your recent jobs
    qgen watch JOB | cancel JOB | retry JOB
    qgen questions [--job JOB]
    qgen limits                       # what you may still do today

Progress comes from a Firestore listener on the job document, read as you under the security
rules; every change goes through the HTTPS API. See docs/clients.md.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from google.api_core import exceptions as gexc
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qgen_cli import config
from qgen_cli.api import Api, ApiError
from qgen_cli.auth import AuthError, TokenSource, sign_in_with_password
from qgen_cli.follow import (
    TERMINAL,
    FollowTimeoutError,
    Job,
    describe,
    follow_job,
    progress_bar,
    progress_text,
    title,
)

STATUS_STYLE = {
    "pending": "yellow",
    "processing": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}
EXIT_INTERRUPTED = 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help=__doc__,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def fail(code: str, message: str) -> NoReturn:
    """One line on stderr, `error CODE: message`, and exit status 1."""
    errors.print(f"[bold red]error[/] {escape(code)}: {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Turns every failure a command can meet into fail()'s one line."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            fail(exc.code, exc.message)
        except AuthError as exc:
            fail(exc.code, exc.message)
        except config.NotSignedInError as exc:
            fail("UNAUTHENTICATED", str(exc))
        except gexc.PermissionDenied:
            fail("PERMISSION_DENIED", "Firestore refused the read: it is not yours")
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded) as exc:
            fail("FIRESTORE_UNAVAILABLE", f"cannot reach Firestore ({exc.message})")
        except gexc.GoogleAPICallError as exc:
            fail(type(exc).__name__.upper(), str(exc.message))

    return wrapper


class Session:
    """The signed-in profile, its tokens, the API and (on demand) Firestore as that user."""

    def __init__(self) -> None:
        self.profile = config.load()
        self.tokens = TokenSource(self.profile)
        self.api = Api(self.profile.api_url, self.tokens)
        self._db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            # Imported on first use: the Firestore client is most of the start-up time.
            from qgen_cli.store import user_client

            self._db = user_client(self.profile, self.tokens)
        return self._db


# ----- formatting --------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def ago(value: Any) -> str:
    moment = _when(value)
    if moment is None:
        return ""
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size or unit == "minute":
            n = max(1, round(seconds / size))
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return ""


def renews(value: Any, now: datetime | None = None) -> str:
    """A reset time in the local time zone: "at 01:00", "tomorrow at 01:00"."""
    moment = _when(value)
    if moment is None:
        return "at an unknown time"
    local = moment.astimezone()
    today = (now or datetime.now(UTC)).astimezone().date()
    if local.date() == today:
        return f"at {local:%H:%M}"
    if (local.date() - today).days == 1:
        return f"tomorrow at {local:%H:%M}"
    return f"on {local:%Y-%m-%d} at {local:%H:%M}"


def count(n: Any, word: str = "question") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ----- following a job ---------------------------------------------------------------------


def state_lines(job_id: str) -> Callable[[Job], None]:
    """For output that is not a terminal (a pipe, a log): one line per change of state."""
    last: list[str] = []

    def show(job: Job) -> None:
        state = describe(job)
        if job.get("status") not in TERMINAL:
            state = f"{job.get('status')} {state}"
        line = f"{state} {progress_text(job)}"
        if not last or last[-1] != line:
            last.append(line)
            console.print(f"{job_id}  {line}")

    return show


def follow(session: Session, job_id: str, job: Job, timeout: float) -> Job:
    """Live progress from a Firestore listener until the job ends; Ctrl-C offers to cancel."""
    db = session.db
    try:
        if not console.is_terminal:
            return follow_job(db, job_id, job, timeout, state_lines(job_id))
        with progress_bar(console) as show:
            return follow_job(db, job_id, job, timeout, show)
    except FollowTimeoutError:
        fail("TIMEOUT", "the job is still running; follow it again with `qgen watch`")
    except KeyboardInterrupt:
        offer_cancel(session, job_id)


def offer_cancel(session: Session, job_id: str) -> NoReturn:
    try:
        answer = typer.confirm(f"\nCancel job {job_id}?", default=False, err=True)
    except (typer.Abort, EOFError, KeyboardInterrupt):
        answer = False
    if not answer:
        console.print(f"The job keeps running; follow it with `qgen watch {job_id}`.")
        raise typer.Exit(0)
    try:
        job = session.api.cancel_job(job_id)
    except ApiError as exc:
        fail(exc.code, exc.message)
    console.print(
        f"Cancelled job {job_id}; {count(job.get('questionsSaved', 0))} kept "
        f"(`qgen questions --job {job_id}`).",
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_INTERRUPTED)


def report(job_id: str, job: Job) -> None:
    saved = job.get("questionsSaved", 0)
    status = job.get("status")
    if status == "completed":
        seconds = (job.get("durationMs") or 0) / 1000
        console.print(
            f"[green]✓ completed[/]: {count(saved)} on {escape(title(job))} in {seconds:.1f} s. "
            f"See them with `qgen questions --job {job_id}`.",
            soft_wrap=True,
        )
        return
    if status == "cancelled":
        console.print(f"[magenta]cancelled[/]: {count(saved)} kept.")
        raise typer.Exit(1)
    hint = f" Try again with `qgen retry {job_id}`." if job.get("retryable") else ""
    console.print(
        f"[red]✗ failed[/] ({escape(str(job.get('errorCode')))}): "
        f"{escape(str(job.get('errorMessage', '')))}{hint}",
        soft_wrap=True,
    )
    raise typer.Exit(1)


# ----- commands ----------------------------------------------------------------------------

# generate, watch and retry all follow a job: one declaration keeps their --timeout alike;
# likewise the JOB argument of watch, cancel and retry.
FOLLOW_TIMEOUT = typer.Option(600, help="Seconds to follow the job.")
JOB_ID = typer.Argument(..., metavar="JOB")


@app.command()
@handled
def login(
    user: str | None = typer.Argument(None, help="A local user name (local stack only)."),
    project: str | None = typer.Option(
        None, help=f"Project id (local default: {config.LOCAL_PROJECT})."
    ),
    api_url: str | None = typer.Option(
        None, help=f"The api function's URL (local default: {config.LOCAL_API_URL})."
    ),
    firestore_emulator: str | None = typer.Option(
        None, help=f"Firestore emulator host:port (default: {config.LOCAL_FIRESTORE})."
    ),
    email: str | None = typer.Option(None, help="Sign in to a real project with this email."),
    api_key: str | None = typer.Option(
        None, envvar="QGEN_FIREBASE_API_KEY", help="The Firebase web API key (real project)."
    ),
) -> None:
    """Sign in: as a named local user on the emulators, or with email and password."""
    if email:
        if not (project and api_url and api_key):
            fail("INVALID_ARGUMENT", "--email needs --project, --api-url and --api-key")
        password = typer.prompt("Password", hide_input=True)
        signed = sign_in_with_password(api_key, email, password)
        profile = config.Profile(
            mode="project",
            uid=signed.uid,
            project_id=project,
            api_url=api_url,
            api_key=api_key,
            email=email,
            refresh_token=signed.refresh_token,
        )
    else:
        if not user or not config.LOCAL_USER.match(user):
            fail("INVALID_ARGUMENT", "give a local user name: letters, digits, '.', '_' or '-'")
        profile = config.Profile(
            mode="local",
            uid=user,
            project_id=project or config.LOCAL_PROJECT,
            api_url=api_url or config.LOCAL_API_URL,
            firestore_emulator=firestore_emulator or config.LOCAL_FIRESTORE,
        )
    path = config.save(profile)
    console.print(f"Signed in as {escape(profile.label)}; saved in {path}.", soft_wrap=True)


@app.command()
def logout() -> None:
    """Forget the saved sign-in."""
    path = config.config_path()
    if config.forget():
        console.print(f"Signed out (removed {path}).")
    else:
        console.print("Not signed in.")


@app.command()
@handled
def whoami() -> None:
    """Who the CLI acts as, and where."""
    profile = config.load()
    console.print(escape(profile.label))
    console.print(f"api {profile.api_url}")
    if profile.mode == "local":
        console.print(f"firestore emulator {profile.firestore_emulator}")


@app.command()
@handled
def generate(
    prompt: str = typer.Argument(..., help="What you want to learn, e.g. 'NATO alphabet'."),
    wait: bool = typer.Option(True, help="Follow the job until it ends (--no-wait: submit only)."),
    timeout: float = FOLLOW_TIMEOUT,
) -> None:
    """Submit a prompt, then show live progress until the questions are ready."""
    session = Session()
    job = session.api.create_job(prompt)
    job_id = str(job["jobId"])
    if not wait:
        console.print(job_id)
        return
    console.print(f"Job {job_id} submitted. Ctrl-C offers to cancel it.")
    report(job_id, follow(session, job_id, job, timeout))


@app.command()
@handled
def watch(
    job_id: str = JOB_ID,
    timeout: float = FOLLOW_TIMEOUT,
) -> None:
    """Follow one job live until it ends (Ctrl-C offers to cancel it)."""
    session = Session()
    job = session.api.get_job(job_id)
    report(job_id, follow(session, job_id, job, timeout))


@app.command()
@handled
def limits(
    as_json: bool = typer.Option(False, "--json", help="Print GET /limits as JSON."),
) -> None:
    """What you may still do: active jobs, this hour's jobs, today's question budget."""
    found = Session().api.limits()
    if as_json:
        console.print_json(json.dumps(found))
        return
    active, hourly, tokens = found["activeJobs"], found["hourlyJobs"], found["dailyTokens"]
    console.print(f"active jobs     {active['used']} of {active['limit']}")
    console.print(
        f"jobs this hour  {hourly['used']} of {hourly['limit']}"
        f" (renews {renews(hourly['resetsAt'])})"
    )
    left = tokens["jobsRemaining"]
    jobs_left = f"about {count(left, 'more job')} today" if left > 0 else "no more jobs today"
    console.print(
        f"today's budget  {jobs_left}: {tokens['remaining']:,} of {tokens['limit']:,} tokens left"
        f" ({tokens['spent']:,} used, {tokens['reserved']:,} held by running jobs;"
        f" renews {renews(tokens['resetsAt'])})",
        soft_wrap=True,
    )


@app.command()
@handled
def jobs(
    limit: int = typer.Option(20, min=1, max=50, help="How many recent jobs."),
    as_json: bool = typer.Option(False, "--json", help="Print the jobs as JSON."),
) -> None:
    """Your recent jobs, newest first."""
    found = Session().api.list_jobs(limit)
    if as_json:
        console.print_json(json.dumps(found))
        return
    if not found:
        console.print('No jobs yet. Start one with `qgen generate "NATO alphabet"`.')
        return
    table = Table(title="Your recent jobs")
    table.add_column("job", no_wrap=True)
    table.add_column("status")
    table.add_column("topic")
    table.add_column("questions", justify="right")
    table.add_column("created")
    for job in found:
        status = str(job.get("status"))
        state = f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
        if status == "failed" and job.get("errorCode"):
            state += f" {escape(str(job['errorCode']))}"
        table.add_row(
            str(job["jobId"]),
            state,
            escape(title(job)),
            progress_text(job),
            ago(job.get("createdAt")),
        )
    console.print(table)


@app.command()
@handled
def cancel(job_id: str = JOB_ID) -> None:
    """Cancel a pending or processing job (questions already saved are kept)."""
    job = Session().api.cancel_job(job_id)
    console.print(f"Cancelled job {job_id}; {count(job.get('questionsSaved', 0))} kept.")


@app.command()
@handled
def retry(
    job_id: str = JOB_ID,
    wait: bool = typer.Option(False, help="Follow the job after queueing it again."),
    timeout: float = FOLLOW_TIMEOUT,
) -> None:
    """Run a job that failed with a retryable error again."""
    session = Session()
    job = session.api.retry_job(job_id)
    console.print(f"Job {job_id} queued again ({count(job.get('questionsSaved', 0))} kept).")
    if wait:
        report(job_id, follow(session, job_id, job, timeout))


@app.command()
@handled
def questions(
    job_id: str | None = typer.Option(None, "--job", metavar="JOB", help="Only this job's."),
    limit: int = typer.Option(100, min=1, max=1000, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print the questions as JSON."),
) -> None:
    """Your saved questions (of one job), read from Firestore as you."""
    from qgen_cli.store import job_questions

    session = Session()
    if job_id:
        # The API answers 404 for a job that is missing or someone else's.
        session.api.get_job(job_id)
    found = job_questions(session.db, session.profile.uid, job_id, limit)
    if as_json:
        fields = ("id", "generationJobId", "question", "type", "options", "correctAnswer")
        console.print_json(json.dumps([{k: q.get(k) for k in fields} for q in found]))
        return
    if not found:
        console.print("No questions yet.")
        return
    table = Table(title=count(len(found)) + (f" of job {job_id}" if job_id else ""))
    table.add_column("#", justify="right")
    table.add_column("question")
    table.add_column("answer")
    table.add_column("due (UTC)", no_wrap=True)
    for n, q in enumerate(found, start=1):
        due = _when(q.get("due"))
        table.add_row(
            str(n),
            escape(str(q.get("question", ""))),
            escape(str(q.get("correctAnswer", ""))),
            f"{due:%Y-%m-%d %H:%M}" if due else "",
        )
    console.print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
