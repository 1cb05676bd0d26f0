# Operations as code: log-based metrics read from the functions' structured log events
# (functions/qgen/logs.py: each record is one JSON line; Cloud Run puts its fields in
# jsonPayload), alert policies, their notification channels, and a dashboard.
#
# Every filter names events and fields the code logs (tests/unit/test_infra_ops.py reads both
# from functions/qgen and fails on a name the code does not log); docs/operations.md,
# "Alerts", has each alert's runbook step; the documentation of each policy says the same in
# short.
#
# First apply: an alert policy created right after its log-based metric can be refused with
# "404 Cannot find metric(s) that match type ... (up to 10 minutes)"; run `terraform apply`
# again a few minutes later. The PromQL conditions skip the check (disable_metric_validation).

locals {
  # The functions' own log lines (2nd gen functions log as Cloud Run revisions).
  qgen_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"${local.function_names.api}\" OR \"${local.function_names.worker}\" OR \"${local.function_names.cleanup}\")"

  # Every alert notifies these: one email channel per address, plus channels made elsewhere.
  alert_notification_channels = concat(
    [for channel in google_monitoring_notification_channel.email : channel.id],
    var.alert_notification_channel_ids,
  )

  # Time series of a log-based metric, in Monitoring filter syntax and in PromQL.
  user_metric = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user"
  promql_run  = "{monitored_resource=\"cloud_run_revision\"}"

  # Failure rate by code: final failures of each errorCode over the jobs that ended (completed +
  # failed) in the window, once enough jobs ended. `or vector(0)`: a window without any
  # completion is all failures, not "no data".
  failure_window     = "[${var.job_failure_rate_window_minutes}m]"
  promql_failed      = "increase(logging_googleapis_com:user_${google_logging_metric.job_failed.name}${local.promql_run}${local.failure_window})"
  promql_completed   = "increase(logging_googleapis_com:user_${google_logging_metric.job_completed.name}${local.promql_run}${local.failure_window})"
  promql_ended       = "(sum(${local.promql_failed}) + (sum(${local.promql_completed}) or vector(0)))"
  failure_rate_query = "(sum by (error_code) (${local.promql_failed}) / ignoring (error_code) group_left () ${local.promql_ended} > ${var.job_failure_rate_threshold}) and on () (${local.promql_ended} >= ${var.job_failure_rate_min_jobs})"

  # Model tokens of the last 24 hours: the _sum of the two distributions.
  promql_prompt_tokens = "(sum(increase(logging_googleapis_com:user_${google_logging_metric.prompt_tokens.name}_sum${local.promql_run}[1d])) or vector(0))"
  promql_output_tokens = "(sum(increase(logging_googleapis_com:user_${google_logging_metric.output_tokens.name}_sum${local.promql_run}[1d])) or vector(0))"
  token_spend_query    = "${local.promql_prompt_tokens} + ${local.promql_output_tokens} > ${var.daily_token_alert_threshold}"

  queue_backlog_depth_threshold = coalesce(var.queue_backlog_depth_threshold, 5 * var.queue_max_concurrent_dispatches)

  # A cleanup run near its deadline (milliseconds, as durationMs): retention against the
  # function's timeout (also its Scheduler attempt deadline), recovery against its own Scheduler
  # attempt deadline, which is shorter than the timeout.
  cleanup_retention_alert_ms = var.cleanup_duration_alert_fraction * var.cleanup_timeout_seconds * 1000
  cleanup_recovery_alert_ms  = var.cleanup_duration_alert_fraction * var.recovery_attempt_deadline_seconds * 1000
}

# ----- Notification channels ------------------------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_email_addresses)

  project      = var.project_id
  display_name = "qgen alerts: ${each.value}"
  type         = "email"
  labels       = { email_address = each.value }

  depends_on = [google_project_service.enabled]
}

check "alerts_reach_someone" {
  assert {
    condition     = length(var.alert_email_addresses) + length(var.alert_notification_channel_ids) > 0
    error_message = "No alert_email_addresses or alert_notification_channel_ids: the alert policies notify nobody (incidents only show in the console)."
  }
}

# ----- Log-based metrics ------------------------------------------------------------------------

resource "google_logging_metric" "job_created" {
  project     = var.project_id
  name        = "qgen_job_created"
  description = "Jobs admitted by the api (job.created; includes the rare Idempotency-Key replay of an existing job)."
  filter      = "${local.qgen_logs} AND jsonPayload.event=\"job.created\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "qgen jobs created"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "job_completed" {
  project     = var.project_id
  name        = "qgen_job_completed"
  description = "Jobs completed by the worker (job.completed)."
  filter      = "${local.qgen_logs} AND jsonPayload.event=\"job.completed\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "qgen jobs completed"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "job_failed" {
  project     = var.project_id
  name        = "qgen_job_failed"
  description = "Final job failures by errorCode (job.failed, whichever function decided it: a model failure in the worker, QUEUE_UNAVAILABLE in the api, WORKER_LOST in the cleanup)."
  filter      = "${local.qgen_logs} AND jsonPayload.event=\"job.failed\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "qgen jobs failed"
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The failure's errorCode (API_KEY, RATE_LIMIT, WORKER_LOST, ...)."
    }
  }
  label_extractors = { error_code = "EXTRACT(jsonPayload.errorCode)" }
  depends_on       = [google_project_service.enabled]
}

resource "google_logging_metric" "job_retrying" {
  project     = var.project_id
  name        = "qgen_job_retrying"
  description = "Attempts that failed with deliveries left, by errorCode (job.retrying): the job runs again."
  filter      = "${local.qgen_logs} AND jsonPayload.event=\"job.retrying\""
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "qgen attempts retrying"
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The attempt's errorCode."
    }
  }
  label_extractors = { error_code = "EXTRACT(jsonPayload.errorCode)" }
  depends_on       = [google_project_service.enabled]
}

resource "google_logging_metric" "questions_saved" {
  project         = var.project_id
  name            = "qgen_questions_saved"
  description     = "Questions saved by the delivery that completed a job (job.completed questionsSaved; an earlier attempt's questions count with that attempt's job.retrying, which carries no count)."
  filter          = "${local.qgen_logs} AND jsonPayload.event=\"job.completed\" AND jsonPayload.questionsSaved:*"
  value_extractor = "EXTRACT(jsonPayload.questionsSaved)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "qgen questions saved per completing delivery"
  }
  bucket_options {
    linear_buckets {
      num_finite_buckets = 10
      width              = 5
      offset             = 0
    }
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "prompt_tokens" {
  project         = var.project_id
  name            = "qgen_prompt_tokens"
  description     = "Model prompt tokens of each attempt that ended (worker job.completed / job.retrying / job.failed, usage.promptTokens). The distribution's sum is the tokens used."
  filter          = "${local.qgen_logs} AND jsonPayload.event=(\"job.completed\" OR \"job.retrying\" OR \"job.failed\") AND jsonPayload.usage.promptTokens:*"
  value_extractor = "EXTRACT(jsonPayload.usage.promptTokens)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "qgen prompt tokens per attempt"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 64
    }
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "output_tokens" {
  project         = var.project_id
  name            = "qgen_output_tokens"
  description     = "Model output tokens (thinking included) of each attempt that ended (worker job.completed / job.retrying / job.failed, usage.outputTokens). The distribution's sum is the tokens used."
  filter          = "${local.qgen_logs} AND jsonPayload.event=(\"job.completed\" OR \"job.retrying\" OR \"job.failed\") AND jsonPayload.usage.outputTokens:*"
  value_extractor = "EXTRACT(jsonPayload.usage.outputTokens)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "qgen output tokens per attempt"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 64
    }
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "api_5xx" {
  project     = var.project_id
  name        = "qgen_api_5xx"
  description = "5xx answers of the api: api.unavailable (QUEUE_UNAVAILABLE, CONTENTION, AUTH_UNAVAILABLE, ...) and api.internal_error (a bug; the line has the stack trace)."
  filter      = "${local.qgen_logs} AND jsonPayload.event=(\"api.unavailable\" OR \"api.internal_error\")"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "qgen api 5xx"
    labels {
      key         = "event"
      value_type  = "STRING"
      description = "api.unavailable or api.internal_error."
    }
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The errorCode of an api.unavailable (empty for api.internal_error)."
    }
  }
  label_extractors = {
    event      = "EXTRACT(jsonPayload.event)"
    error_code = "EXTRACT(jsonPayload.errorCode)"
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "first_question" {
  project         = var.project_id
  name            = "qgen_first_question_ms"
  description     = "Time to first question: from the worker's claim of a delivery to the job's first question handed to the question writer (firstQuestionMs, logged by the attempt that produced it). Queue wait before the claim: cloudtasks queue/task_attempt_delays."
  filter          = "${local.qgen_logs} AND jsonPayload.event=(\"job.completed\" OR \"job.retrying\" OR \"job.failed\") AND jsonPayload.firstQuestionMs:*"
  value_extractor = "EXTRACT(jsonPayload.firstQuestionMs)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "qgen time to first question"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 1.5
      scale              = 50
    }
  }
  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "cleanup_duration" {
  project         = var.project_id
  name            = "qgen_cleanup_duration_ms"
  description     = "Duration of each finished cleanup run, by run (cleanup.retention / cleanup.recovery durationMs)."
  filter          = "${local.qgen_logs} AND jsonPayload.event=(\"cleanup.retention\" OR \"cleanup.recovery\") AND jsonPayload.durationMs:*"
  value_extractor = "EXTRACT(jsonPayload.durationMs)"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "qgen cleanup run duration"
    labels {
      key         = "run"
      value_type  = "STRING"
      description = "retention or recovery."
    }
  }
  label_extractors = { run = "REGEXP_EXTRACT(jsonPayload.event, \"cleanup[.](.+)\")" }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 100
    }
  }
  depends_on = [google_project_service.enabled]
}

# ----- Alert policies -------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "job_failure_rate" {
  project               = var.project_id
  display_name          = "qgen: job failure rate by errorCode"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "ERROR"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "one errorCode fails more than ${var.job_failure_rate_threshold * 100} % of the jobs ending in ${var.job_failure_rate_window_minutes} min"
    condition_prometheus_query_language {
      query                     = local.failure_rate_query
      duration                  = "300s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  documentation {
    subject   = "qgen: jobs failing with one errorCode"
    mime_type = "text/markdown"
    content   = <<-EOT
      Final job failures of one `errorCode` are above ${var.job_failure_rate_threshold * 100} % of the jobs
      that ended in the last ${var.job_failure_rate_window_minutes} minutes (at least ${var.job_failure_rate_min_jobs} jobs).

      Check: the `error_code` of this incident; the failed jobs' lines:
      `resource.type="cloud_run_revision" AND jsonPayload.event="job.failed" AND jsonPayload.errorCode="CODE"`.
      SCHEMA_VALIDATION / TRUNCATED after a model change, RATE_LIMIT = Gemini quota,
      WORKER_LOST = instances dying, QUEUE_UNAVAILABLE = Cloud Tasks or its IAM, SERVICE_BUDGET = the
      project's daily token ceiling.

      Runbook: docs/operations.md, "Alerts", *Job failure rate by errorCode*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "gemini_key_rejected" {
  project               = var.project_id
  display_name          = "qgen: Gemini API key rejected (API_KEY)"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "CRITICAL"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "any job failed with API_KEY"
    condition_threshold {
      filter          = "${local.user_metric}/${google_logging_metric.job_failed.name}\" AND metric.labels.error_code=\"API_KEY\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
    }
  }

  documentation {
    subject   = "qgen: the Gemini API key is rejected; every job fails"
    mime_type = "text/markdown"
    content   = <<-EOT
      A job failed with `API_KEY`: the model refused the worker's key (revoked, restricted, project
      changed). Not retryable: every new job fails at its first model call, and learners cannot retry.

      Check: `gcloud secrets versions list ${var.gemini_api_key_secret_id}`, the key in APIs & Services →
      Credentials, the worker's `gemini_api_key_version`.

      Do: rotate the key (docs/operations.md, *Rotate the Gemini key*), then re-run the failed jobs
      (*Re-run a failed job*). Runbook: docs/operations.md, "Alerts", *Gemini API key rejected*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "queue_backlog" {
  project               = var.project_id
  display_name          = "qgen: question-generation queue backlog"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "CRITICAL"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "p95 task attempt starts more than ${var.queue_backlog_age_threshold_seconds} s late"
    condition_threshold {
      filter          = "resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=\"${google_cloud_tasks_queue.jobs.name}\" AND metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_backlog_age_threshold_seconds * 1000 # the metric is in ms
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_95"
        cross_series_reducer = "REDUCE_MAX"
      }
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
    }
  }

  conditions {
    display_name = "more than ${local.queue_backlog_depth_threshold} tasks queued for 15 min"
    condition_threshold {
      filter          = "resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=\"${google_cloud_tasks_queue.jobs.name}\" AND metric.type=\"cloudtasks.googleapis.com/queue/depth\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.queue_backlog_depth_threshold
      duration        = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    subject   = "qgen: jobs are waiting in the queue"
    mime_type = "text/markdown"
    content   = <<-EOT
      Cloud Tasks dispatches slower than jobs arrive: task attempts start late, or the queue holds
      more than ${local.queue_backlog_depth_threshold} tasks. Learners wait for their first question.

      Check: `gcloud tasks queues describe ${google_cloud_tasks_queue.jobs.name} --location=${var.region}`
      (state PAUSED?), process-job's 429/5xx and instance count, `job.retrying` RATE_LIMIT /
      SERVICE_BUDGET (retries queued with a wait also sit in the queue).

      Do: resume a paused queue; fix failing workers; raise `queue_max_dispatches_per_second` /
      `queue_max_concurrent_dispatches` within the Gemini quota. Runbook: docs/operations.md,
      "Alerts", *Queue backlog*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "cleanup_near_deadline" {
  project               = var.project_id
  display_name          = "qgen: cleanup run near its deadline"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "WARNING"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "retention run longer than ${var.cleanup_duration_alert_fraction * 100} % of ${var.cleanup_timeout_seconds} s"
    condition_threshold {
      filter          = "${local.user_metric}/${google_logging_metric.cleanup_duration.name}\" AND metric.labels.run=\"retention\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.cleanup_retention_alert_ms
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.run"]
      }
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
    }
  }

  conditions {
    display_name = "recovery run longer than ${var.cleanup_duration_alert_fraction * 100} % of ${var.recovery_attempt_deadline_seconds} s"
    condition_threshold {
      filter          = "${local.user_metric}/${google_logging_metric.cleanup_duration.name}\" AND metric.labels.run=\"recovery\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.cleanup_recovery_alert_ms
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.run"]
      }
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
    }
  }

  documentation {
    subject   = "qgen: a cleanup run is close to being cut off"
    mime_type = "text/markdown"
    content   = <<-EOT
      A cleanup run took more than ${var.cleanup_duration_alert_fraction * 100} % of its deadline
      (retention: the ${var.cleanup_timeout_seconds} s function timeout; recovery: its
      ${var.recovery_attempt_deadline_seconds} s Scheduler attempt deadline). Past it, the run is cut off:
      retention resumes next day, recovery overlaps the next run.

      Check: the `cleanup.retention` / `cleanup.recovery` lines (counts and `durationMs`), Firestore
      latency, a backlog of expired jobs or limit documents.

      Do: raise `cleanup_timeout_seconds` (≤ 1800) or `recovery_attempt_deadline_seconds`, or run
      retention by hand until it catches up. Runbook: docs/operations.md, "Alerts", *Cleanup near its deadline*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "cleanup_stalled" {
  project               = var.project_id
  display_name          = "qgen: recovery runs stopped"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "ERROR"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "no recovery run finished for ${var.cleanup_recovery_absent_minutes} min"
    condition_absent {
      filter   = "${local.user_metric}/${google_logging_metric.cleanup_duration.name}\" AND metric.labels.run=\"recovery\""
      duration = "${var.cleanup_recovery_absent_minutes * 60}s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.run"]
      }
    }
  }

  documentation {
    subject   = "qgen: the recovery sweep is not running"
    mime_type = "text/markdown"
    content   = <<-EOT
      No `cleanup.recovery` line for ${var.cleanup_recovery_absent_minutes} minutes (the sweep runs every 5).
      Without it, jobs whose worker died stay `processing`, lost tasks are not revived and counter
      drift stays.

      Check: `gcloud scheduler jobs describe qgen-cleanup-recovery --location=${var.region}` (paused?
      last attempt status), `cleanup.internal_error` lines, cleanup-jobs' request log (401/403 = the
      OIDC token or invoker grant).

      Do: resume the job, fix the error, `gcloud scheduler jobs run qgen-cleanup-recovery`.
      Runbook: docs/operations.md, "Alerts", *Recovery runs stopped*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "worker_5xx" {
  project               = var.project_id
  display_name          = "qgen: worker 5xx"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "ERROR"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "more than ${var.worker_5xx_alert_count} worker 5xx in 10 min"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_names.worker}\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.worker_5xx_alert_count
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
    }
  }

  documentation {
    subject   = "qgen: process-job answers 5xx"
    mime_type = "text/markdown"
    content   = <<-EOT
      process-job answered more than ${var.worker_5xx_alert_count} 5xx in 10 minutes. A delivery ends
      2xx whatever the job's outcome (a retry is queued as a new task), so a 5xx is one of: 500 = an
      unhandled error (`worker.internal_error`, with the stack trace); 503 = the next attempt's task
      could not be created (Cloud Tasks or the enqueuer grant; `job.retrying` lines); 504 / "Memory
      limit exceeded" = the platform stopped an instance. Cloud Tasks redelivers each; the lease keeps
      reruns safe, but each costs an attempt.

      Check: `resource.labels.service_name="${local.function_names.worker}" AND severity>=ERROR`, the
      request log's status codes, the latest revision (a bad deploy?), memory use.

      Do: roll back the revision or fix forward; raise `worker_memory`. Runbook: docs/operations.md,
      "Alerts", *Worker 5xx*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "api_5xx" {
  project               = var.project_id
  display_name          = "qgen: api 5xx"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "ERROR"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "more than ${var.api_5xx_alert_count} api 5xx in 5 min"
    condition_threshold {
      filter          = "${local.user_metric}/${google_logging_metric.api_5xx.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.api_5xx_alert_count
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
    }
  }

  documentation {
    subject   = "qgen: the api answers 5xx"
    mime_type = "text/markdown"
    content   = <<-EOT
      The api answered more than ${var.api_5xx_alert_count} 5xx in 5 minutes: `api.unavailable` with an
      `errorCode` (QUEUE_UNAVAILABLE = Cloud Tasks or the enqueuer grant, CONTENTION = a hot document,
      AUTH_UNAVAILABLE = Firebase Auth unreachable, SERVICE_BUDGET_EXHAUSTED = the daily token ceiling)
      or `api.internal_error` (a bug, with the stack trace).

      Check: the incident's `event` / `error_code`; the lines themselves. Do: per code, docs/operations.md,
      "Alerts", *api 5xx*.
    EOT
  }
}

resource "google_monitoring_alert_policy" "token_spend" {
  project               = var.project_id
  display_name          = "qgen: model tokens per day"
  combiner              = "OR"
  enabled               = var.alerts_enabled
  severity              = "WARNING"
  notification_channels = local.alert_notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "more than ${var.daily_token_alert_threshold} tokens in 24 h"
    condition_prometheus_query_language {
      query                     = local.token_spend_query
      duration                  = "0s"
      evaluation_interval       = "300s"
      disable_metric_validation = true
    }
  }

  documentation {
    subject   = "qgen: model spend is high"
    mime_type = "text/markdown"
    content   = <<-EOT
      The worker's attempts used more than ${var.daily_token_alert_threshold} model tokens (prompt + output)
      in the last 24 hours. At PROJECT_DAILY_TOKEN_CEILING the service stops starting model calls
      (jobs wait with SERVICE_BUDGET, the api refuses new ones).

      Check: the dashboard's job and token charts: more jobs (`qgen_job_created`, one learner or
      address?) or more tokens per job (a model or prompt change, retries).

      Do: per cause, docs/operations.md, "Alerts", *Model tokens per day*.
    EOT
  }
}

# ----- Dashboard ---------------------------------------------------------------------------------

locals {
  # One chart per key signal; PromQL, so distributions give percentiles and sums directly.
  dashboard_widgets = [
    {
      title = "Jobs per 5 min: created, completed, failed"
      xyChart = { dataSets = [
        { plotType = "LINE", legendTemplate = "created", timeSeriesQuery = { prometheusQuery = "sum(increase(logging_googleapis_com:user_${google_logging_metric.job_created.name}${local.promql_run}[5m]))" } },
        { plotType = "LINE", legendTemplate = "completed", timeSeriesQuery = { prometheusQuery = "sum(increase(logging_googleapis_com:user_${google_logging_metric.job_completed.name}${local.promql_run}[5m]))" } },
        { plotType = "LINE", legendTemplate = "failed", timeSeriesQuery = { prometheusQuery = "sum(increase(logging_googleapis_com:user_${google_logging_metric.job_failed.name}${local.promql_run}[5m]))" } },
      ] }
    },
    {
      title = "Final failures and retries per 5 min, by errorCode"
      xyChart = { dataSets = [
        { plotType = "STACKED_BAR", legendTemplate = "failed {{error_code}}", timeSeriesQuery = { prometheusQuery = "sum by (error_code) (increase(logging_googleapis_com:user_${google_logging_metric.job_failed.name}${local.promql_run}[5m]))" } },
        { plotType = "LINE", legendTemplate = "retrying {{error_code}}", timeSeriesQuery = { prometheusQuery = "sum by (error_code) (increase(logging_googleapis_com:user_${google_logging_metric.job_retrying.name}${local.promql_run}[5m]))" } },
      ] }
    },
    {
      title = "Time to first question (claim to first question), ms"
      xyChart = { dataSets = [
        { plotType = "LINE", legendTemplate = "p50", timeSeriesQuery = { prometheusQuery = "histogram_quantile(0.5, sum by (le) (rate(logging_googleapis_com:user_${google_logging_metric.first_question.name}_bucket${local.promql_run}[10m])))" } },
        { plotType = "LINE", legendTemplate = "p95", timeSeriesQuery = { prometheusQuery = "histogram_quantile(0.95, sum by (le) (rate(logging_googleapis_com:user_${google_logging_metric.first_question.name}_bucket${local.promql_run}[10m])))" } },
      ] }
    },
    {
      title = "Cloud Tasks: queued tasks and p95 attempt delay (ms)"
      xyChart = { dataSets = [
        { plotType = "LINE", legendTemplate = "queued tasks", timeSeriesQuery = { prometheusQuery = "sum(cloudtasks_googleapis_com:queue_depth{monitored_resource=\"cloud_tasks_queue\",queue_id=\"${google_cloud_tasks_queue.jobs.name}\"})" } },
        { plotType = "LINE", legendTemplate = "p95 delay ms", timeSeriesQuery = { prometheusQuery = "histogram_quantile(0.95, sum by (le) (rate(cloudtasks_googleapis_com:queue_task_attempt_delays_bucket{monitored_resource=\"cloud_tasks_queue\",queue_id=\"${google_cloud_tasks_queue.jobs.name}\"}[10m])))" } },
      ] }
    },
    {
      title = "Model tokens per hour"
      xyChart = { dataSets = [
        { plotType = "STACKED_BAR", legendTemplate = "prompt", timeSeriesQuery = { prometheusQuery = "sum(increase(logging_googleapis_com:user_${google_logging_metric.prompt_tokens.name}_sum${local.promql_run}[1h]))" } },
        { plotType = "STACKED_BAR", legendTemplate = "output", timeSeriesQuery = { prometheusQuery = "sum(increase(logging_googleapis_com:user_${google_logging_metric.output_tokens.name}_sum${local.promql_run}[1h]))" } },
      ] }
    },
    {
      title = "Questions saved per hour"
      xyChart = { dataSets = [
        { plotType = "STACKED_BAR", legendTemplate = "questions", timeSeriesQuery = { prometheusQuery = "sum(increase(logging_googleapis_com:user_${google_logging_metric.questions_saved.name}_sum${local.promql_run}[1h]))" } },
      ] }
    },
    {
      title = "api 5xx and worker responses per 5 min"
      xyChart = { dataSets = [
        { plotType = "STACKED_BAR", legendTemplate = "api {{event}} {{error_code}}", timeSeriesQuery = { prometheusQuery = "sum by (event, error_code) (increase(logging_googleapis_com:user_${google_logging_metric.api_5xx.name}${local.promql_run}[5m]))" } },
        { plotType = "LINE", legendTemplate = "worker {{response_code}}", timeSeriesQuery = { prometheusQuery = "sum by (response_code) (increase(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",service_name=\"${local.function_names.worker}\"}[5m]))" } },
      ] }
    },
    {
      title = "Cleanup run duration (mean, ms), by run"
      xyChart = { dataSets = [
        { plotType = "LINE", legendTemplate = "{{run}}", timeSeriesQuery = { prometheusQuery = "sum by (run) (increase(logging_googleapis_com:user_${google_logging_metric.cleanup_duration.name}_sum${local.promql_run}[1h])) / sum by (run) (increase(logging_googleapis_com:user_${google_logging_metric.cleanup_duration.name}_count${local.promql_run}[1h]))" } },
      ] }
    },
  ]
}

resource "google_monitoring_dashboard" "qgen" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "qgen"
    gridLayout  = { columns = "2", widgets = local.dashboard_widgets }
  })

  depends_on = [google_project_service.enabled]
}
