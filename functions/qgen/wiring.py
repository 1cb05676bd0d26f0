"""Composition root: builds the clients once per instance and hands them to the app."""

from __future__ import annotations

from functools import lru_cache, partial

from google.cloud import firestore

from . import logs
from .adapters.auth import verify_user
from .adapters.cleanup_store import CleanupStore
from .adapters.clock import utc_now
from .adapters.firestore_store import FirestoreStore
from .adapters.gemini import GeminiModel
from .adapters.task_auth import verify_caller, verify_scheduler
from .adapters.task_queue import CloudTasksQueue
from .adapters.worker_store import WorkerStore
from .config import Settings, get_settings
from .http.app import ApiApp
from .http.cleanup_app import CleanupApp
from .http.worker_app import WorkerApp
from .services.cleanup import CleanupService
from .services.jobs import JobService
from .services.worker import WorkerService


def _configured() -> Settings:
    """The instance's settings, with Cloud Logging's JSON format switched on."""
    settings = get_settings()
    logs.configure(settings.project_id)
    return settings


def _queue(settings: Settings) -> CloudTasksQueue:
    return CloudTasksQueue(
        queue_path=settings.queue_path,
        worker_url=settings.worker_url,
        service_account_email=settings.tasks_service_account,
        emulator_host=settings.tasks_emulator_host,
        timeout_seconds=settings.tasks_enqueue_timeout_seconds,
    )


def build_api(settings: Settings) -> ApiApp:
    store = FirestoreStore(
        firestore.Client(project=settings.project_id),
        transaction_max_attempts=settings.transaction_max_attempts,
    )
    queue = _queue(settings)
    service = JobService(store=store, queue=queue, settings=settings, clock=utc_now)
    return ApiApp(
        service=service,
        settings=settings,
        verify_user=partial(verify_user, project_id=settings.project_id),
    )


@lru_cache(maxsize=1)
def api_app() -> ApiApp:
    return build_api(_configured())


def build_worker(settings: Settings) -> WorkerApp:
    store = WorkerStore(
        firestore.Client(project=settings.project_id),
        lease_seconds=settings.lease_seconds,
        transaction_max_attempts=settings.transaction_max_attempts,
    )
    model = GeminiModel(
        api_key=settings.gemini_api_key,
        base_url=settings.gemini_base_url,
        model=settings.gemini_model,
        timeout_seconds=settings.model_timeout_seconds,
    )
    service = WorkerService(store=store, model=model, settings=settings, clock=utc_now)
    return WorkerApp(service=service, verify_caller=partial(verify_caller, settings=settings))


@lru_cache(maxsize=1)
def worker_app() -> WorkerApp:
    return build_worker(_configured())


def build_cleanup(settings: Settings) -> CleanupApp:
    store = CleanupStore(
        firestore.Client(project=settings.project_id),
        page_size=settings.cleanup_page_size,
        transaction_max_attempts=settings.transaction_max_attempts,
    )
    service = CleanupService(store=store, queue=_queue(settings), settings=settings, clock=utc_now)
    return CleanupApp(service=service, verify_caller=partial(verify_scheduler, settings=settings))


@lru_cache(maxsize=1)
def cleanup_app() -> CleanupApp:
    return build_cleanup(_configured())
