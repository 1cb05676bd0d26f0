locals {
  runtime = "python311"

  # Function names (Cloud Run service names: lowercase, digits, hyphens), by the function's key
  # in functions.tf.
  function_names = { api = "api", worker = "process-job", cleanup = "cleanup-jobs" }

  # The queue the api and the cleanup enqueue into; its name is the code's default TASKS_QUEUE.
  queue_name = "question-generation"

  # The deterministic URL of a 2nd gen function (its `url` attribute). The worker and the
  # cleanup need their own URL as the OIDC audience they verify, and a function cannot refer to
  # its own attributes, so the URL is computed here; a postcondition on each function (the api's
  # too) checks that the deployed `url` is exactly this.
  api_url     = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_names.api}"
  worker_url  = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_names.worker}"
  cleanup_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_names.cleanup}"

  # Cloud Tasks' dispatch deadline for HTTP tasks: how long an attempt may take before Cloud
  # Tasks counts it as failed and retries. It is a property of each task, not of the queue; the
  # enqueuing code (qgen/adapters/task_queue.py) does not set Task.dispatch_deadline, so every
  # task gets Cloud Tasks' default of 10 minutes (the maximum is 30). The worker's timeout must
  # be above it. If the code ever sets the deadline, change this to match.
  tasks_dispatch_deadline_seconds = 600

  # ----- Environment of the functions: every name is a field of qgen/config.py Settings -------
  # (tests/unit/test_infra.py checks the names, the values it can resolve, and that each
  # function gets what its code requires), except THREADS, read by functions-framework.
  #
  # THREADS: functions-framework serves requests with gunicorn threads, 4 x the CPUs it sees
  # unless THREADS says otherwise; Cloud Run sends an instance at most its
  # max_instance_request_concurrency requests at once, so each function gets exactly that many
  # threads (no idle threads, and no request waiting for one).

  env_common = {
    # Makes the code refuse to start on an emulator host, the local caller check or a missing or
    # local setting (qgen/wiring.py production_problems); the local stack never sets it.
    QGEN_ENVIRONMENT      = "production"
    PROJECT_ID            = var.project_id
    TASKS_LOCATION        = google_cloud_tasks_queue.jobs.location
    TASKS_QUEUE           = google_cloud_tasks_queue.jobs.name
    WORKER_URL            = local.worker_url
    TASKS_SERVICE_ACCOUNT = google_service_account.account["tasks"].email
    MAX_ATTEMPTS          = tostring(var.max_attempts)
    LEASE_SECONDS         = tostring(var.lease_seconds)
    NOTIFICATIONS_ENABLED = tostring(var.notifications_enabled)
  }

  env_api = {
    THREADS                 = tostring(local.function_concurrency.api)
    CORS_ALLOWED_ORIGINS    = join(",", var.cors_allowed_origins)
    MAX_CONCURRENT_PER_USER = tostring(var.max_concurrent_per_user)
    USER_RATE_LIMIT         = tostring(var.user_rate_limit)
    IP_RATE_LIMIT           = tostring(var.ip_rate_limit)
    TRUSTED_PROXY_HOPS      = tostring(var.trusted_proxy_hops)
  }

  # GEMINI_API_KEY is not here: it comes from Secret Manager (functions.tf), on the worker only.
  env_worker = {
    THREADS                = tostring(local.function_concurrency.worker)
    WORKER_CALLER_CHECK    = "oidc"
    GEMINI_MODEL           = var.gemini_model
    GEMINI_THINKING_BUDGET = tostring(var.gemini_thinking_budget)
    MODEL_TIMEOUT_SECONDS  = tostring(var.model_timeout_seconds)
  }

  env_cleanup = {
    THREADS                      = tostring(local.function_concurrency.cleanup)
    WORKER_CALLER_CHECK          = "oidc"
    CLEANUP_URL                  = local.cleanup_url
    SCHEDULER_SERVICE_ACCOUNT    = google_service_account.account["scheduler"].email
    COMPLETED_JOB_RETENTION_DAYS = tostring(var.completed_job_retention_days)
    FAILED_JOB_RETENTION_DAYS    = tostring(var.failed_job_retention_days)
    CANCELLED_JOB_RETENTION_DAYS = tostring(var.cancelled_job_retention_days)
    STALE_PENDING_SECONDS        = tostring(var.stale_pending_seconds)
  }
}
