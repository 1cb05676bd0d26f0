"""Request and response bodies of the public API: the single source of the OpenAPI schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pydantic.alias_generators import to_camel

from ..adapters.firestore_store import StoredJob
from ..domain.errors import ErrorCode
from ..domain.jobs import JobPhase, JobStatus, Usage


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CreateJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", title="CreateJobRequest")

    prompt: StrictStr = Field(
        description=(
            "What the learner wants to learn. Trimmed; then 3..5000 characters "
            "(limits are configurable)."
        ),
        examples=["NATO alphabet"],
    )


class JobView(_Camel):
    """A generation job as clients see it; the same fields as generationJobs/{jobId}."""

    model_config = ConfigDict(title="Job")

    job_id: str
    user_id: str
    prompt: str
    status: JobStatus
    phase: JobPhase | None = None
    questions_generated: int
    questions_saved: int
    questions_rejected: int
    estimated_total: int | None = None
    topic: str | None = None
    question_ids: list[str]
    duration_ms: int | None = None
    error_message: str | None = None
    error_code: str | None = None
    retryable: bool | None = None
    last_error_code: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    attempts: int
    usage: Usage | None = None
    model: str | None = None

    @classmethod
    def of(cls, stored: StoredJob) -> JobView:
        # The client IP and the lease are server bookkeeping, not part of the API view.
        fields = stored.job.model_dump(
            exclude={"ip_address", "lease_expires_at", "lease_token", "run", "enqueued_at"}
        )
        return cls(job_id=stored.job_id, **fields)


class JobList(_Camel):
    model_config = ConfigDict(title="JobList")

    jobs: list[JobView]


class Health(BaseModel):
    model_config = ConfigDict(title="Health")

    status: str = "ok"


class ErrorDetail(BaseModel):
    model_config = ConfigDict(title="ErrorDetail")

    code: ErrorCode
    message: str
    details: dict[str, object] | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(title="Error")

    error: ErrorDetail
