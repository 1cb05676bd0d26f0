# ----- Project ------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project to deploy into (a Firebase project: the learners sign in with Firebase Auth)."
  type        = string
}

variable "region" {
  description = "Region of the functions, the Cloud Tasks queue (TASKS_LOCATION) and the Scheduler jobs."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Firestore location (multi-region nam5/eur3 or a region). Cannot change after creation."
  type        = string
  default     = "nam5"
}

variable "firestore_point_in_time_recovery" {
  description = "Keep 7 days of Firestore point-in-time recovery (billed as storage)."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels put on every resource that takes labels."
  type        = map(string)
  default     = { app = "qgen" }
}

# ----- Model --------------------------------------------------------------------------------

variable "gemini_model" {
  description = "GEMINI_MODEL: the model the worker calls."
  type        = string
  default     = "gemini-2.5-flash"
}

variable "gemini_thinking_budget" {
  description = "GEMINI_THINKING_BUDGET: thinking tokens per call; 0 switches thinking off on Gemini 2.5 Flash, for the soonest first question (docs/decisions.md §29)."
  type        = number
  default     = 0
}

variable "gemini_api_key_secret_id" {
  description = "Secret Manager secret holding the Gemini API key. Terraform creates the secret, never its value: add versions with gcloud (README.md)."
  type        = string
  default     = "gemini-api-key"
}

variable "gemini_api_key_version" {
  description = "Secret version the worker reads as GEMINI_API_KEY. \"latest\" is resolved when an instance starts; pin a number to make a rotation an explicit apply."
  type        = string
  default     = "latest"
}

variable "model_timeout_seconds" {
  description = "MODEL_TIMEOUT_SECONDS: longest silence tolerated from the model."
  type        = number
  default     = 60
}

# ----- Public API ---------------------------------------------------------------------------

variable "cors_allowed_origins" {
  description = "CORS_ALLOWED_ORIGINS: origins of the web client allowed to call the api (e.g. [\"https://app.example.com\"])."
  type        = list(string)

  validation {
    condition     = length(var.cors_allowed_origins) > 0 && alltrue([for o in var.cors_allowed_origins : can(regex("^https?://[^/,]+$", o))])
    error_message = "Give at least one origin, each scheme://host[:port] without a path or comma."
  }
}

variable "max_concurrent_per_user" {
  description = "MAX_CONCURRENT_PER_USER: active (pending or processing) jobs per learner."
  type        = number
  default     = 3
}

variable "user_rate_limit" {
  description = "USER_RATE_LIMIT: jobs a learner may create per hour."
  type        = number
  default     = 20
}

variable "ip_rate_limit" {
  description = "IP_RATE_LIMIT: jobs a client address may create per hour."
  type        = number
  default     = 100
}

variable "trusted_proxy_hops" {
  description = "TRUSTED_PROXY_HOPS: X-Forwarded-For entries added by proxies we trust (1 = Google's front end only; 2 behind an extra load balancer)."
  type        = number
  default     = 1
}

# ----- Worker and queue ---------------------------------------------------------------------

variable "max_attempts" {
  description = "Deliveries per job run: the queue's retry_config.max_attempts and MAX_ATTEMPTS of the functions (they must agree)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 100
    error_message = "max_attempts must be 1..100."
  }
}

variable "lease_seconds" {
  description = "LEASE_SECONDS: how long a worker's claim on a job lasts without a heartbeat."
  type        = number
  default     = 120
}

variable "queue_min_backoff_seconds" {
  description = "Cloud Tasks min_backoff. Must be >= lease_seconds (plus a margin): the retry of a delivery whose worker died then lands after its lease expired and takes the job over, instead of being acknowledged as a duplicate."
  type        = number
  default     = 150
}

variable "queue_max_backoff_seconds" {
  description = "Cloud Tasks max_backoff."
  type        = number
  default     = 600
}

variable "queue_max_doublings" {
  description = "Cloud Tasks max_doublings (150 s, 300 s, 600 s, 600 s with the defaults)."
  type        = number
  default     = 2
}

# Sizing the queue to the Gemini quota (see the quotas page of your Gemini API project, per
# model and tier: requests per minute RPM, tokens per minute TPM, requests per day RPD).
# A job makes 2 model calls per delivery (clarify + one streamed generation) and keeps one
# stream open for roughly 30-90 s, generating up to 40 questions: about 8k tokens (input +
# output) spread over that minute.
#   max_dispatches_per_second  <= 0.8 * RPM / 60 / 2          (80 % headroom for retries)
#   max_concurrent_dispatches  <= 0.8 * TPM / 8000             (tokens of the streams in flight)
# e.g. gemini-2.5-flash at 1,000 RPM and 1,000,000 TPM: 6.6/s and 100; the defaults stay below.
# Also keep max_concurrent_dispatches <= worker_max_instances * worker_concurrency, or Cloud Run
# answers 429 and each refusal burns one of the task's max_attempts (a precondition checks it).
variable "queue_max_dispatches_per_second" {
  description = "Cloud Tasks rate_limits.max_dispatches_per_second (jobs started per second). Size it to the Gemini RPM quota (comment above)."
  type        = number
  default     = 5
}

variable "queue_max_concurrent_dispatches" {
  description = "Cloud Tasks rate_limits.max_concurrent_dispatches (jobs running at once). Size it to the Gemini TPM quota (comment above)."
  type        = number
  default     = 80
}

variable "tasks_log_sampling_ratio" {
  description = "Fraction of task attempts Cloud Tasks logs (0..1). Lower it at high volume."
  type        = number
  default     = 1.0
}

variable "worker_timeout_seconds" {
  description = "Worker (process_job) timeout. Must exceed the task dispatch deadline (local.tasks_dispatch_deadline_seconds): Cloud Tasks gives up on an attempt first, the platform never kills a worker in the middle of a write first."
  type        = number
  default     = 900
}

variable "worker_memory" {
  description = "Worker memory (Cloud Run notation)."
  type        = string
  default     = "1Gi"
}

variable "worker_cpu" {
  description = "Worker vCPUs (concurrency > 1 needs at least 1)."
  type        = string
  default     = "1"
}

variable "worker_concurrency" {
  description = "Deliveries one worker instance handles at once. The work is waiting on the model's stream, so one vCPU carries several."
  type        = number
  default     = 10
}

variable "worker_max_instances" {
  description = "Worker instance cap."
  type        = number
  default     = 10
}

# ----- api and cleanup sizing ---------------------------------------------------------------

variable "api_memory" {
  description = "api memory."
  type        = string
  default     = "512Mi"
}

variable "api_cpu" {
  description = "api vCPUs."
  type        = string
  default     = "1"
}

variable "api_concurrency" {
  description = "Requests one api instance handles at once (short Firestore transactions)."
  type        = number
  default     = 40
}

variable "api_max_instances" {
  description = "api instance cap (bounds cost under abuse; rate limits bound each caller)."
  type        = number
  default     = 20
}

variable "api_min_instances" {
  description = "Warm api instances (1 removes most cold starts for learners, at the cost of an idle instance)."
  type        = number
  default     = 0
}

variable "api_timeout_seconds" {
  description = "api request timeout."
  type        = number
  default     = 60
}

variable "cleanup_memory" {
  description = "cleanup_jobs memory."
  type        = string
  default     = "512Mi"
}

variable "cleanup_timeout_seconds" {
  description = "cleanup_jobs timeout, also the retention job's attempt deadline (Cloud Scheduler allows at most 1800 s)."
  type        = number
  default     = 900

  validation {
    condition     = var.cleanup_timeout_seconds >= 60 && var.cleanup_timeout_seconds <= 1800
    error_message = "cleanup_timeout_seconds must be 60..1800 (Cloud Scheduler's attempt deadline limit)."
  }
}

variable "cleanup_max_instances" {
  description = "cleanup_jobs instance cap (runs are safe in parallel; a retention and a recovery run may overlap)."
  type        = number
  default     = 2
}

# ----- Cleanup: retention and recovery ------------------------------------------------------

variable "completed_job_retention_days" {
  description = "COMPLETED_JOB_RETENTION_DAYS."
  type        = number
  default     = 7
}

variable "failed_job_retention_days" {
  description = "FAILED_JOB_RETENTION_DAYS."
  type        = number
  default     = 30
}

variable "cancelled_job_retention_days" {
  description = "CANCELLED_JOB_RETENTION_DAYS."
  type        = number
  default     = 7
}

variable "stale_pending_seconds" {
  description = "STALE_PENDING_SECONDS: a pending job whose task has not run this long after it was queued is queued again by the recovery run (same task name, so a no-op while the task still exists). Keep it well above queue_min_backoff_seconds."
  type        = number
  default     = 900
}

variable "retention_schedule" {
  description = "Cron of the retention run (deletes old jobs)."
  type        = string
  default     = "0 3 * * *"
}

variable "recovery_schedule" {
  description = "Cron of the recovery run (expired leases, lost tasks, counter drift)."
  type        = string
  default     = "*/5 * * * *"
}

variable "recovery_attempt_deadline_seconds" {
  description = "How long Cloud Scheduler waits for a recovery run; below the recovery interval so runs do not pile up."
  type        = number
  default     = 240
}

variable "scheduler_time_zone" {
  description = "Time zone of both schedules."
  type        = string
  default     = "Etc/UTC"
}

# ----- Network ------------------------------------------------------------------------------

variable "private_functions_ingress" {
  description = "Ingress of process_job and cleanup_jobs: ALLOW_ALL (IAM + the OIDC check already keep everyone else out) or ALLOW_INTERNAL_ONLY (Cloud Run counts Cloud Tasks and Cloud Scheduler of the same project as internal sources; try it in a staging project first)."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY"], var.private_functions_ingress)
    error_message = "private_functions_ingress must be ALLOW_ALL or ALLOW_INTERNAL_ONLY."
  }
}

variable "notifications_enabled" {
  description = "Send learners a push notification (FCM) when a job ends, to the devices they registered (docs/clients.md). Off: no job records one."
  type        = bool
  default     = true
}
