# Two Scheduler jobs call cleanup_jobs, each with its own mode, rather than one job doing both:
#
# - the cadences differ by three orders of magnitude (daily vs every 5 minutes); one job would
#   either run retention 288 times a day or recover stuck jobs once a day;
# - retention can page through many thousands of documents and take minutes, recovery is a few
#   small queries; separate jobs get separate attempt deadlines and retry policies, and a slow
#   retention run never delays a recovery run;
# - each can be paused on its own (e.g. pause retention during an investigation, keep recovery),
#   and each shows up separately in Scheduler's history and in the logs.
#
# Both POST {"mode": ...} with an OIDC token of the scheduler account, audience CLEANUP_URL.
# The cleanup is safe to run concurrently with itself, so an overlap is harmless.

locals {
  cleanup_schedules = {
    retention = {
      description      = "Delete completed/failed/cancelled jobs past their retention (daily, 03:00 UTC)"
      schedule         = var.retention_schedule
      body             = { mode = "retention" }
      attempt_deadline = var.cleanup_timeout_seconds
      # A missed day only delays deletion; retry a few times with backoff.
      retry_count = 3
    }
    recovery = {
      description      = "Resume or fail jobs whose worker died, re-enqueue lost tasks, repair counters (every 5 minutes)"
      schedule         = var.recovery_schedule
      body             = { mode = "recovery" }
      attempt_deadline = var.recovery_attempt_deadline_seconds
      # The next run is minutes away: no retries, so runs never stack up.
      retry_count = 0
    }
  }
}

resource "google_cloud_scheduler_job" "cleanup" {
  for_each = local.cleanup_schedules

  project          = var.project_id
  region           = var.region
  name             = "qgen-cleanup-${each.key}"
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "${each.value.attempt_deadline}s"

  retry_config {
    retry_count          = each.value.retry_count
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.function["cleanup"].url
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode(each.value.body))

    oidc_token {
      service_account_email = google_service_account.account["scheduler"].email
      audience              = local.cleanup_url
    }
  }

  depends_on = [
    google_project_service.enabled,
    # The first run must not bounce off IAM.
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}
