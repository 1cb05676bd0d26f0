"""Settings, read once from the environment (pydantic-settings).

Every name here is an environment variable of the deployed functions; infra/ sets the
production values and dev/stack.py the local ones.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # --- Google Cloud ---
    project_id: str = Field(
        default="demo-qgen",
        validation_alias=AliasChoices("PROJECT_ID", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"),
    )
    tasks_location: str = "us-central1"
    tasks_queue: str = "question-generation"
    # URL Cloud Tasks POSTs to (the process_job function) and the OIDC audience of that call.
    worker_url: str = "http://127.0.0.1:8082/"
    # Service account whose OIDC token Cloud Tasks attaches; empty means no token (emulator).
    tasks_service_account: str = ""
    # host:port of gcloud-tasks-emulator; empty means the real Cloud Tasks API.
    tasks_emulator_host: str = ""
    # Seconds an enqueue may take before the API gives up and reports QUEUE_UNAVAILABLE.
    tasks_enqueue_timeout_seconds: float = 10.0

    # --- Limits (the seed's JOB_CONFIG) ---
    max_concurrent_per_user: PositiveInt = 3
    min_prompt_length: PositiveInt = 3
    max_prompt_length: PositiveInt = 5000
    completed_job_retention_days: PositiveInt = 7
    failed_job_retention_days: PositiveInt = 30
    cancelled_job_retention_days: PositiveInt = 7

    # --- Rate limits (fixed windows, Firestore counters) ---
    user_rate_limit: PositiveInt = 20
    user_rate_window_seconds: PositiveInt = 3600
    ip_rate_limit: PositiveInt = 100
    ip_rate_window_seconds: PositiveInt = 3600
    # The per-address window is counted on this many documents, outside the admission
    # transaction's reads: a school behind one address never queues on one document, at the
    # price of a limit that a burst can overshoot by about the burst's size.
    ip_rate_window_shards: PositiveInt = 16
    # How many X-Forwarded-For entries, counted from the right, were added by proxies we trust.
    # Google's front end appends the address it saw, so the last entry is the real client.
    trusted_proxy_hops: int = Field(default=1, ge=0)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)

    # --- Token budgets (per UTC day) ---
    # What a job reserves when it is admitted: about a 40-question job's prompt and output.
    # Settled from the real usage when the job ends.
    job_token_reservation: PositiveInt = 4_000
    # A learner's daily tokens: about ten typical jobs.
    daily_token_budget: PositiveInt = 40_000
    # The whole project's daily tokens: new jobs are refused and no new model call starts
    # once it is spent (about 1,000 learners using their whole budget).
    project_daily_token_ceiling: PositiveInt = 40_000_000
    # How old a worker's reading of the project's spend may be (the ceiling is coarse).
    spend_reading_max_age_seconds: float = Field(default=10.0, ge=0)

    # --- HTTP ---
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:5173", "http://127.0.0.1:5173"]
    )
    max_body_bytes: int = Field(default=16_384, ge=1024)
    list_default_limit: int = 20
    list_max_limit: int = 50

    # --- Model (Gemini through google-genai) ---
    # Empty key with a base URL: the offline model server of the local stack (dev/model_server).
    gemini_api_key: str = ""
    gemini_base_url: str = ""
    gemini_model: str = "gemini-2.5-flash"
    # Longest silence tolerated from the model (the SDK's per-read timeout), in seconds.
    model_timeout_seconds: float = Field(default=60.0, gt=0)
    # Gemini 2.5 thinks before answering unless told not to, and a stream shows nothing until
    # thinking ends. 0 switches thinking off on 2.5 Flash (the default: first question soonest,
    # docs/decisions.md); unset leaves the model's own default. Gemini 3 models take a level
    # instead ("minimal", "low", "medium", "high"), which wins when set.
    gemini_thinking_budget: int | None = Field(default=0, ge=-1)
    gemini_thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    # Asked when the primary model is rate-limited or failing before it wrote anything
    # (empty: none). The job records the model that answered.
    gemini_fallback_model: str = ""
    # A retryable failure queues the job's next attempt as a new task after a wait: this,
    # doubled at each attempt, at least what the model asked for, at most the maximum.
    retry_backoff_seconds: float = Field(default=10.0, gt=0)
    max_retry_delay_seconds: float = Field(default=600.0, gt=0)
    min_questions_per_job: PositiveInt = 1
    max_questions_per_job: PositiveInt = 40

    # --- Worker ---
    # "oidc": only Cloud Tasks' OIDC token for TASKS_SERVICE_ACCOUNT with WORKER_URL as audience
    # (on top of IAM); "local": the emulator, which sends no token but names the queue.
    worker_caller_check: Literal["oidc", "local"] = "oidc"
    # Deliveries a job gets before a retryable failure becomes final; matches the queue's
    # max_attempts in infra/.
    max_attempts: PositiveInt = 5
    lease_seconds: int = Field(default=120, ge=10)
    # The job document is written at most this often while questions stream in.
    progress_write_interval_seconds: float = Field(default=1.0, ge=0)

    # --- Cleanup (Cloud Scheduler) ---
    # OIDC audience and identity of the scheduler's calls to cleanup_jobs (production).
    cleanup_url: str = "http://127.0.0.1:8083/"
    scheduler_service_account: str = ""
    # A pending job whose task has not run this long after it was queued is queued again under
    # the same task name (a no-op while the task still exists).
    stale_pending_seconds: int = Field(default=900, ge=60)
    cleanup_page_size: int = Field(default=300, ge=1, le=500)

    # --- Notifications (FCM) ---
    # Off: no job records a notification. infra/ turns it on (variable notifications_enabled);
    # the local stack has no FCM to hand them to.
    notifications_enabled: bool = False

    # --- Firestore ---
    transaction_max_attempts: PositiveInt = 12

    # --- Production safety ---
    # "production" (infra/ sets it on every function) makes the functions refuse to start on an
    # emulator host, the local caller check or a missing or local setting (wiring.py
    # `production_problems`). Cloud Run sets K_SERVICE, so a deployed function counts as
    # production even if the variable is lost; the local stack sets neither.
    qgen_environment: Literal["development", "production"] = "development"
    k_service: str = ""
    # Read by the Google client libraries themselves; declared here so the check sees them.
    firestore_emulator_host: str = ""
    firebase_auth_emulator_host: str = ""
    # Ask Firebase Auth on every API request whether the user is disabled or their tokens were
    # revoked (one user lookup per request; docs/operations.md). Off: signature and expiry only.
    check_revoked_tokens: bool = False

    @model_validator(mode="after")
    def _body_limit_fits_the_longest_prompt(self) -> Settings:
        """MAX_BODY_BYTES follows from MAX_PROMPT_LENGTH (docs/decisions.md): unset, it is the
        largest body a valid prompt can need; set, it may not be smaller than that."""
        # 12 bytes: a character outside the BMP sent as a JSON surrogate-pair escape
        # ("\ud83d\ude00"), the most any one character can take. 4 KiB: the {"prompt": ...}
        # envelope, JSON whitespace, and whitespace around the prompt that trimming removes.
        needed = self.max_prompt_length * 12 + 4096
        if "max_body_bytes" not in self.model_fields_set:
            self.max_body_bytes = needed
        elif self.max_body_bytes < needed:
            raise ValueError(
                f"max_body_bytes ({self.max_body_bytes}) is below {needed}, the largest body a "
                f"valid {self.max_prompt_length}-character prompt can need; raise it or unset it"
            )
        return self

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def queue_path(self) -> str:
        return (
            f"projects/{self.project_id}/locations/{self.tasks_location}/queues/{self.tasks_queue}"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
