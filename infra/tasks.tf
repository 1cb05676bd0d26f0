# The queue between the api and the worker. Task names are "{jobId}-run{n}" (deduplicated by
# Cloud Tasks); each task POSTs {"jobId"} to the worker with an OIDC token of the tasks
# account, audience WORKER_URL. The retry config is the worker's redelivery policy:
#
# - max_attempts equals MAX_ATTEMPTS of the functions: the worker turns a retryable failure
#   into a final one on the last delivery, so the two must agree.
# - min_backoff >= LEASE_SECONDS: when a worker dies mid-job, Cloud Tasks retries its delivery
#   after the backoff; by then the dead worker's lease has expired and the retry takes over the
#   job. A shorter backoff would be acknowledged as a duplicate (live lease) and the job would
#   wait for the recovery sweep.
# - Rate limits are sized to the Gemini quota; see the comment on the variables.
resource "google_cloud_tasks_queue" "jobs" {
  project  = var.project_id
  location = var.region
  name     = local.queue_name

  rate_limits {
    max_dispatches_per_second = var.queue_max_dispatches_per_second
    max_concurrent_dispatches = var.queue_max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = var.max_attempts
    min_backoff        = "${var.queue_min_backoff_seconds}s"
    max_backoff        = "${var.queue_max_backoff_seconds}s"
    max_doublings      = var.queue_max_doublings
    max_retry_duration = "0s" # no time limit: max_attempts ends the retries
  }

  stackdriver_logging_config {
    sampling_ratio = var.tasks_log_sampling_ratio
  }

  lifecycle {
    precondition {
      condition     = var.queue_min_backoff_seconds >= var.lease_seconds
      error_message = "queue_min_backoff_seconds must be >= lease_seconds, so a retry after a crash lands after the dead worker's lease expired."
    }
    precondition {
      condition     = var.queue_max_backoff_seconds >= var.queue_min_backoff_seconds
      error_message = "queue_max_backoff_seconds must be >= queue_min_backoff_seconds."
    }
    # The worker against the deliveries it takes (checked here, as they are its queue's).
    precondition {
      condition     = var.worker_timeout_seconds > local.tasks_dispatch_deadline_seconds && var.worker_timeout_seconds <= 3600
      error_message = "worker_timeout_seconds must be above the task dispatch deadline (local.tasks_dispatch_deadline_seconds) and at most 3600."
    }
    precondition {
      condition     = var.worker_max_instances * var.worker_concurrency >= var.queue_max_concurrent_dispatches
      error_message = "worker_max_instances * worker_concurrency must be >= queue_max_concurrent_dispatches, or Cloud Run refuses deliveries (429) and each refusal uses up a task attempt."
    }
  }

  depends_on = [google_project_service.enabled]
}
