"""Composition root: builds the clients once per instance and hands them to the app."""

from __future__ import annotations

from functools import lru_cache, partial

from google.cloud import firestore

from . import logs
from .adapters.auth import verify_user
from .adapters.clock import utc_now
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
from .services.worker import WorkerService


def _configured() -> Settings:
    """The instance's settings, with Cloud Logging's JSON format switched on."""
    settings = get_settings()
    logs.configure(settings.project_id)
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


def build_api(settings: Settings) -> ApiApp:
    client, uow = _firestore(settings)
    service = JobService(
        uow=uow,
        reader=FirestoreJobReader(client),
        queue=_queue(settings),
        settings=settings,
        clock=utc_now,
    )
    return ApiApp(
        service=service,
        settings=settings,
        verify_user=partial(verify_user, project_id=settings.project_id),
    )


def build_worker(settings: Settings) -> WorkerApp:
    client, uow = _firestore(settings)
    model = GeminiModel(
        api_key=settings.gemini_api_key,
        base_url=settings.gemini_base_url,
        model=settings.gemini_model,
        timeout_seconds=settings.model_timeout_seconds,
        thinking=thinking_config(settings.gemini_thinking_budget, settings.gemini_thinking_level),
    )
    service = WorkerService(
        uow=uow, reader=FirestoreJobReader(client), model=model, settings=settings, clock=utc_now
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
    )
    return CleanupApp(service=service, verify_caller=partial(verify_scheduler, settings=settings))


@lru_cache(maxsize=1)
def api_app() -> ApiApp:
    return build_api(_configured())


@lru_cache(maxsize=1)
def worker_app() -> WorkerApp:
    return build_worker(_configured())


@lru_cache(maxsize=1)
def cleanup_app() -> CleanupApp:
    return build_cleanup(_configured())
