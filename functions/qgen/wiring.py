"""Composition root: builds the clients once per instance and hands them to the app.

In production it first refuses a configuration that is only safe locally (`production_problems`):
once when the instance imports main.py (so a bad deployment fails to start, and Cloud Functions
logs why), and again for each function as it is built.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from functools import lru_cache, partial
from typing import Literal
from urllib.parse import urlsplit

from google.cloud import firestore

from . import logs
from .adapters.auth import verify_user
from .adapters.clock import utc_now
from .adapters.fcm import FcmNotifier, messaging_app
from .adapters.firestore.cleanup import FirestoreCleanupScans
from .adapters.firestore.reader import FirestoreJobReader
from .adapters.firestore.unit_of_work import FirestoreUnitOfWork
from .adapters.gemini import GeminiModel, thinking_config
from .adapters.task_auth import verify_caller, verify_scheduler
from .adapters.task_queue import CloudTasksQueue
from .config import Settings, get_settings
from .http.app import ApiApp
from .http.cleanup_app import CleanupApp
from .http.worker_app import WorkerApp
from .services.cleanup import CleanupService
from .services.jobs import JobService
from .services.notifications import NotificationSender
from .services.worker import WorkerService

Function = Literal["api", "process_job", "cleanup_jobs"]


class UnsafeProductionConfigError(RuntimeError):
    """Production settings that would run against an emulator, trust any caller, or point the
    queue or the scheduler at a local address."""


def is_production(settings: Settings) -> bool:
    return settings.qgen_environment == "production" or bool(settings.k_service)


def production_problems(settings: Settings, function: str | None = None) -> list[str]:
    """What keeps `settings` from running `function` (an entry point; None: what every function
    needs) in production; empty outside production."""
    if not is_production(settings):
        return []
    s = settings
    problems = [
        f"{name} is set ({value}): production must not use an emulator"
        for name, value in (
            ("FIRESTORE_EMULATOR_HOST", s.firestore_emulator_host),
            ("FIREBASE_AUTH_EMULATOR_HOST", s.firebase_auth_emulator_host),
            ("TASKS_EMULATOR_HOST", s.tasks_emulator_host),
        )
        if value
    ]
    if s.worker_caller_check == "local":
        problems.append("WORKER_CALLER_CHECK is 'local': production verifies OIDC tokens")
    if "project_id" not in s.model_fields_set or s.project_id.startswith("demo-"):
        problems.append(f"PROJECT_ID must name the real project (it is {s.project_id!r})")
    # Every function needs the queue's target and identity: the api and the cleanup enqueue,
    # the worker verifies the tasks' OIDC tokens against them.
    problems += _missing(TASKS_SERVICE_ACCOUNT=s.tasks_service_account)
    problems += _not_public(WORKER_URL=s.worker_url)
    if function == "process_job":
        problems += _missing(GEMINI_API_KEY=s.gemini_api_key)
        if s.gemini_base_url:
            problems += _not_public(GEMINI_BASE_URL=s.gemini_base_url)
    if function == "cleanup_jobs":
        problems += _missing(SCHEDULER_SERVICE_ACCOUNT=s.scheduler_service_account)
        problems += _not_public(CLEANUP_URL=s.cleanup_url)
    return problems


def _missing(**required: str) -> list[str]:
    return [f"{name} is required" for name, value in required.items() if not value]


def _not_public(**urls: str) -> list[str]:
    return [
        f"{name} must be a public https URL (it is {url!r})"
        for name, url in urls.items()
        if not _is_public_https(url)
    ]


def _is_public_https(url: str) -> bool:
    """https, on a host that is neither this machine nor a private network."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name
    local = address.is_loopback or address.is_private or address.is_unspecified
    return not (local or address.is_link_local)


def check_production(settings: Settings, function: str | None = None) -> None:
    problems = production_problems(settings, function)
    if problems:
        raise UnsafeProductionConfigError(
            f"Refusing to start {function or 'the function'} in production "
            "(QGEN_ENVIRONMENT=production or K_SERVICE set): " + "; ".join(problems)
        )


def _configured(function: Function) -> Settings:
    """The instance's settings, with Cloud Logging's JSON format switched on, checked for
    production."""
    settings = get_settings()
    logs.configure(settings.project_id)
    check_production(settings, function)
    return settings


def _firestore(settings: Settings) -> tuple[firestore.Client, FirestoreUnitOfWork]:
    client = firestore.Client(project=settings.project_id)
    uow = FirestoreUnitOfWork(client, transaction_max_attempts=settings.transaction_max_attempts)
    return client, uow


def _queue(settings: Settings) -> CloudTasksQueue:
    return CloudTasksQueue(
        queue_path=settings.queue_path,
        worker_url=settings.worker_url,
        service_account_email=settings.tasks_service_account,
        emulator_host=settings.tasks_emulator_host,
        timeout_seconds=settings.tasks_enqueue_timeout_seconds,
    )


def _notifications(settings: Settings, uow: FirestoreUnitOfWork) -> NotificationSender | None:
    if not settings.notifications_enabled:
        return None
    notifier = FcmNotifier(messaging_app(settings.project_id))
    threading.Thread(target=notifier.warm, name="fcm-warm-up", daemon=True).start()
    return NotificationSender(uow=uow, notifier=notifier, clock=utc_now)


def build_api(settings: Settings) -> ApiApp:
    client, uow = _firestore(settings)
    service = JobService(
        uow=uow,
        reader=FirestoreJobReader(client),
        queue=_queue(settings),
        settings=settings,
        clock=utc_now,
        notifications=_notifications(settings, uow),
    )
    return ApiApp(
        service=service,
        settings=settings,
        verify_user=partial(
            verify_user,
            project_id=settings.project_id,
            check_revoked=settings.check_revoked_tokens,
        ),
    )


def build_worker(settings: Settings) -> WorkerApp:
    client, uow = _firestore(settings)
    model = GeminiModel(
        api_key=settings.gemini_api_key,
        base_url=settings.gemini_base_url,
        model=settings.gemini_model,
        timeout_seconds=settings.model_timeout_seconds,
        thinking=thinking_config(settings.gemini_thinking_budget, settings.gemini_thinking_level),
        fallback_model=settings.gemini_fallback_model,
    )
    service = WorkerService(
        uow=uow,
        reader=FirestoreJobReader(client),
        model=model,
        settings=settings,
        clock=utc_now,
        queue=_queue(settings),
        notifications=_notifications(settings, uow),
    )
    return WorkerApp(service=service, verify_caller=partial(verify_caller, settings=settings))


def build_cleanup(settings: Settings) -> CleanupApp:
    client, uow = _firestore(settings)
    service = CleanupService(
        scans=FirestoreCleanupScans(client, page_size=settings.cleanup_page_size),
        uow=uow,
        queue=_queue(settings),
        settings=settings,
        clock=utc_now,
        notifications=_notifications(settings, uow),
    )
    return CleanupApp(service=service, verify_caller=partial(verify_scheduler, settings=settings))


@lru_cache(maxsize=1)
def api_app() -> ApiApp:
    return build_api(_configured("api"))


@lru_cache(maxsize=1)
def worker_app() -> WorkerApp:
    return build_worker(_configured("process_job"))


@lru_cache(maxsize=1)
def cleanup_app() -> CleanupApp:
    return build_cleanup(_configured("cleanup_jobs"))


def _check_at_start() -> None:
    """Run when main.py imports this module, i.e. when an instance starts: in production a bad
    configuration fails the start itself (the message is in the function's logs), not every
    request. FUNCTION_TARGET (set by Cloud Functions) says which function this instance runs."""
    settings = Settings()
    if is_production(settings):
        logs.configure(settings.project_id)
        check_production(settings, os.environ.get("FUNCTION_TARGET") or None)


_check_at_start()
