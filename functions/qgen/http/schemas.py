"""Request and response bodies of the public API: the single source of the OpenAPI schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, create_model
from pydantic.alias_generators import to_camel

from ..domain.devices import Devices
from ..domain.errors import ErrorCode
from ..domain.jobs import SERVER_ONLY_FIELDS, Job, StoredJob


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


def _job_view_fields() -> dict[str, Any]:
    """Job's own fields minus the server's bookkeeping. A field with a non-null default is
    always in a response, so the view requires it; optional ones stay optional."""
    return {
        name: (info.annotation, info if info.is_required() or info.default is None else ...)
        for name, info in Job.model_fields.items()
        if name not in SERVER_ONLY_FIELDS
    }


class _JobViewBase(_Camel):
    model_config = ConfigDict(title="Job")

    @classmethod
    def of(cls, stored: StoredJob) -> _JobViewBase:
        return cls(job_id=stored.job_id, **stored.job.model_dump(exclude=set(SERVER_ONLY_FIELDS)))


# A generation job as clients see it: generationJobs/{jobId}'s fields plus its id. Derived
# from Job, so a field added to the job appears in the API and its OpenAPI schema at once.
JobView = create_model(
    "JobView",
    __base__=_JobViewBase,
    __doc__="A generation job as clients see it; the same fields as generationJobs/{jobId}.",
    job_id=(str, ...),
    **_job_view_fields(),
)


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


class RegisterDeviceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", title="RegisterDeviceRequest")

    token: StrictStr = Field(description="The device's FCM registration token.")


class NotificationSettingsRequest(_Camel):
    model_config = ConfigDict(extra="forbid", title="NotificationSettingsRequest")

    notifications_enabled: StrictBool


class DeviceView(_Camel):
    model_config = ConfigDict(title="Device")

    device_id: str
    added_at: datetime


class DevicesView(_Camel):
    """The learner's devices (their tokens are never echoed back) and the switch."""

    model_config = ConfigDict(title="Devices")

    devices: list[DeviceView]
    notifications_enabled: bool

    @classmethod
    def of(cls, devices: Devices) -> DevicesView:
        listed = [DeviceView(device_id=d.device_id, added_at=d.added_at) for d in devices.devices]
        return cls(devices=listed, notifications_enabled=devices.notifications_enabled)
