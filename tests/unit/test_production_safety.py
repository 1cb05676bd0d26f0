"""Issue 10: production refuses local-only configuration; the optional revocation check.

Production is QGEN_ENVIRONMENT=production (infra/ sets it) or K_SERVICE (Cloud Run sets it). The
checks run when an instance imports main.py and when each function is built
(qgen/wiring.py). The revocation mapping is tested here with a fake verifier raising
firebase-admin's own exceptions; tests/integration/test_hardening_revocation.py runs the real
firebase-admin lookup against a stand-in for the Auth emulator.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from firebase_admin import auth as firebase_auth
from firebase_admin import exceptions as firebase_exceptions
from pydantic import ValidationError
from qgen import wiring
from qgen.adapters import auth
from qgen.config import Settings, get_settings
from qgen.wiring import UnsafeProductionConfigError, check_production, production_problems

from dev.stack import Stack, StackConfig
from tests.support.fakes import MemoryStore
from tests.support.http_app import PROJECT, api, call, error_of

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("api", "process_job", "cleanup_jobs")
PRODUCTION: dict[str, Any] = {
    "qgen_environment": "production",
    "project_id": "qgen-prod",
    "worker_url": "https://us-central1-qgen-prod.cloudfunctions.net/process-job",
    "tasks_service_account": "qgen-tasks@qgen-prod.iam.gserviceaccount.com",
    "cleanup_url": "https://us-central1-qgen-prod.cloudfunctions.net/cleanup-jobs",
    "scheduler_service_account": "qgen-scheduler@qgen-prod.iam.gserviceaccount.com",
    "gemini_api_key": "from-secret-manager",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the test process (an emulator host from another suite, say)."""
    for name in [*Settings.model_fields, "project_id", "google_cloud_project", "gcloud_project"]:
        monkeypatch.delenv(name.upper(), raising=False)


def production(**overrides: Any) -> Settings:
    return Settings(**{**PRODUCTION, **overrides})


# ----- production refuses what is only safe locally -------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_complete_production_configuration_starts(function: str) -> None:
    check_production(production(), function)


@pytest.mark.parametrize(
    ("overrides", "functions", "named"),
    [
        ({"firestore_emulator_host": "127.0.0.1:8180"}, FUNCTIONS, "FIRESTORE_EMULATOR_HOST"),
        ({"firebase_auth_emulator_host": "127.0.0.1:9099"}, FUNCTIONS, "FIREBASE_AUTH_EMULATOR"),
        ({"tasks_emulator_host": "localhost:8123"}, FUNCTIONS, "TASKS_EMULATOR_HOST"),
        ({"worker_caller_check": "local"}, FUNCTIONS, "WORKER_CALLER_CHECK"),
        ({"project_id": "demo-qgen"}, FUNCTIONS, "PROJECT_ID"),
        ({"tasks_service_account": ""}, FUNCTIONS, "TASKS_SERVICE_ACCOUNT"),
        ({"worker_url": "http://127.0.0.1:8082/"}, FUNCTIONS, "WORKER_URL"),
        ({"worker_url": "https://localhost/"}, FUNCTIONS, "WORKER_URL"),
        ({"worker_url": "https://10.1.2.3/"}, FUNCTIONS, "WORKER_URL"),
        ({"worker_url": "https://[::1]:8082/"}, FUNCTIONS, "WORKER_URL"),
        ({"worker_url": "http://worker.example/"}, FUNCTIONS, "WORKER_URL"),
        ({"gemini_api_key": ""}, ("process_job",), "GEMINI_API_KEY"),
        ({"gemini_base_url": "http://127.0.0.1:8084"}, ("process_job",), "GEMINI_BASE_URL"),
        ({"cleanup_url": "http://127.0.0.1:8083/"}, ("cleanup_jobs",), "CLEANUP_URL"),
        ({"scheduler_service_account": ""}, ("cleanup_jobs",), "SCHEDULER_SERVICE_ACCOUNT"),
    ],
)
def test_each_unsafe_setting_is_refused_with_its_name(
    overrides: dict[str, Any], functions: tuple[str, ...], named: str
) -> None:
    settings = production(**overrides)
    for function in FUNCTIONS:
        if function in functions:
            with pytest.raises(UnsafeProductionConfigError, match=named) as caught:
                check_production(settings, function)
            assert "Refusing to start" in str(caught.value)
            assert function in str(caught.value)
        else:  # what one function needs is not asked of the others
            check_production(settings, function)
    assert any(named in problem for problem in production_problems(settings, functions[0]))


def test_the_project_must_be_set_explicitly() -> None:
    unset = {k: v for k, v in PRODUCTION.items() if k != "project_id"}
    with pytest.raises(UnsafeProductionConfigError, match="PROJECT_ID"):
        check_production(Settings(**unset), "api")


def test_every_problem_is_reported_at_once_without_the_gemini_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QGEN_ENVIRONMENT", "production")
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("GEMINI_BASE_URL", "http://127.0.0.1:8084?key=secret-ish")
    problems = production_problems(Settings(), "process_job")
    assert len(problems) == 5  # project, tasks account, worker URL, key, base URL
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-very-secret")
    with pytest.raises(UnsafeProductionConfigError) as caught:
        check_production(Settings(), "process_job")
    assert "AIza-very-secret" not in str(caught.value)


def test_cloud_run_counts_as_production_even_without_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not wiring.is_production(Settings())
    monkeypatch.setenv("K_SERVICE", "api")
    with pytest.raises(UnsafeProductionConfigError, match="PROJECT_ID"):
        check_production(Settings(), "api")
    # Even an explicit "development" does not make a deployed function local.
    assert wiring.is_production(Settings(qgen_environment="development", k_service="api"))


def test_an_unknown_environment_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QGEN_ENVIRONMENT", "prod")
    with pytest.raises(ValidationError, match="qgen_environment"):
        Settings()


def test_dev_defaults_and_the_local_stack_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    assert production_problems(Settings()) == []
    for function in FUNCTIONS:
        check_production(Settings(), function)
    # The environment dev/stack.py gives the functions: emulators, local caller check, localhost.
    stack_env = Stack(StackConfig(project_id="demo-qgen")).function_env()
    assert "QGEN_ENVIRONMENT" not in stack_env
    for name, value in stack_env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.firestore_emulator_host
    assert settings.worker_caller_check == "local"
    for function in FUNCTIONS:
        check_production(settings, function)


def test_wiring_refuses_to_build_a_function(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8180")
    get_settings.cache_clear()
    try:
        for build in (wiring.api_app, wiring.worker_app, wiring.cleanup_app):
            with pytest.raises(UnsafeProductionConfigError, match="FIRESTORE_EMULATOR_HOST"):
                build()
    finally:
        get_settings.cache_clear()


# ----- the optional revocation check ----------------------------------------------------------


class FakeVerifier:
    """Stands for firebase_auth.verify_id_token: records check_revoked, raises what it is told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[bool] = []

    def __call__(self, token: str, app: Any = None, check_revoked: bool = False) -> dict[str, Any]:
        self.calls.append(check_revoked)
        if self.error is not None:
            raise self.error
        return {"uid": "alice", "sub": "alice"}


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> FakeVerifier:
    fake = FakeVerifier()
    monkeypatch.setattr(auth.firebase_auth, "verify_id_token", fake)
    return fake


def test_the_revocation_check_is_off_by_default_and_passed_through_when_on(
    verifier: FakeVerifier,
) -> None:
    assert Settings().check_revoked_tokens is False
    assert auth.verify_user("Bearer t", project_id=PROJECT) == "alice"
    assert auth.verify_user("Bearer t", project_id=PROJECT, check_revoked=True) == "alice"
    assert verifier.calls == [False, True]


@pytest.mark.parametrize(
    ("error", "status", "code", "reason"),
    [
        (firebase_auth.RevokedIdTokenError("revoked"), 401, "UNAUTHENTICATED", "TOKEN_REVOKED"),
        (firebase_auth.UserDisabledError("disabled"), 401, "UNAUTHENTICATED", "USER_DISABLED"),
        (firebase_auth.UserNotFoundError("gone"), 401, "UNAUTHENTICATED", "USER_NOT_FOUND"),
        (firebase_auth.ExpiredIdTokenError("expired", None), 401, "UNAUTHENTICATED", None),
        (firebase_auth.InvalidIdTokenError("bad"), 401, "UNAUTHENTICATED", None),
        (
            firebase_exceptions.UnavailableError("lookup failed"),
            503,
            "AUTH_UNAVAILABLE",
            None,
        ),
        (
            firebase_exceptions.PermissionDeniedError("no IAM grant"),
            503,
            "AUTH_UNAVAILABLE",
            None,
        ),
    ],
)
def test_revocation_failures_become_stable_answers(
    verifier: FakeVerifier, error: Exception, status: int, code: str, reason: str | None
) -> None:
    verifier.error = error
    store = MemoryStore()
    app = api(
        store,
        store,
        verifier=partial(auth.verify_user, project_id=PROJECT, check_revoked=True),
    )
    for method, path in (("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/abc")):
        response = call(app, method, path, content=json.dumps({"prompt": "NATO"}).encode())
        answer = error_of(response, status, code)
        assert answer.get("details", {}).get("reason") == reason
        if status == 503:
            assert response.headers["Retry-After"] == "5"
    assert set(verifier.calls) == {True}
    assert not store.state.jobs


def test_wiring_hands_the_setting_to_the_verifier(
    verifier: FakeVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # clients without credentials
    for check in (False, True):
        settings = Settings(
            project_id=PROJECT, tasks_emulator_host="127.0.0.1:1", check_revoked_tokens=check
        )
        # The caller is verified first; the id then ends the request before any Firestore call.
        error_of(call(wiring.build_api(settings), "GET", "/jobs/__x__"), 404, "NOT_FOUND")
    assert verifier.calls == [False, True]
