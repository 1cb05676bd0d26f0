"""Cloud Tasks: hand a job to the worker.

Task names are derived from the job id and run number, so enqueueing the same run twice
(a retried API call, a recovery sweep) is a no-op: ALREADY_EXISTS counts as success.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.protobuf import timestamp_pb2

from ..services.ports import QueueUnavailableError


def task_body(job_id: str) -> bytes:
    return json.dumps({"jobId": job_id}).encode()


class CloudTasksQueue:
    def __init__(
        self,
        *,
        queue_path: str,
        worker_url: str,
        service_account_email: str,
        emulator_host: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        from google.cloud import tasks_v2

        self._tasks_v2 = tasks_v2
        if emulator_host:
            import grpc
            from google.cloud.tasks_v2.services.cloud_tasks.transports import (
                CloudTasksGrpcTransport,
            )

            transport = CloudTasksGrpcTransport(channel=grpc.insecure_channel(emulator_host))
            self._client = tasks_v2.CloudTasksClient(transport=transport)
        else:
            self._client = tasks_v2.CloudTasksClient()
        self._queue_path = queue_path
        self._worker_url = worker_url
        self._service_account_email = service_account_email
        self._timeout = timeout_seconds
        # Safe to retry: the deterministic name turns a duplicate create into ALREADY_EXISTS.
        self._retry = Retry(
            predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded),
            initial=0.2,
            maximum=2.0,
            timeout=timeout_seconds,
        )

    def enqueue(self, task_id: str, job_id: str, *, delay_seconds: float = 0) -> bool:
        tasks_v2 = self._tasks_v2
        http_request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=self._worker_url,
            headers={"Content-Type": "application/json"},
            body=task_body(job_id),
        )
        if self._service_account_email:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self._service_account_email,
                audience=self._worker_url,
            )
        task = tasks_v2.Task(name=f"{self._queue_path}/tasks/{task_id}", http_request=http_request)
        if delay_seconds > 0:
            when = timestamp_pb2.Timestamp()
            when.FromDatetime(datetime.now(UTC) + timedelta(seconds=delay_seconds))
            task.schedule_time = when
        try:
            self._client.create_task(
                parent=self._queue_path, task=task, retry=self._retry, timeout=self._timeout
            )
        except gexc.AlreadyExists:
            return False
        except (gexc.GoogleAPIError, gexc.RetryError) as exc:
            raise QueueUnavailableError(type(exc).__name__) from exc
        return True
