# ----- Operations: alerting, dashboard, budget, backups (monitoring.tf, budget.tf, backup.tf) --
# Every threshold is a starting point; docs/operations.md has what each alert means and the
# runbook step it links to.

# ----- Who gets notified --------------------------------------------------------------------

variable "alert_email_addresses" {
  description = "Email addresses notified by every alert policy (one email notification channel each) and by the billing budget."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", a))])
    error_message = "Each alert_email_addresses entry must be an email address."
  }
}

variable "alert_notification_channel_ids" {
  description = "Existing Cloud Monitoring notification channels (Slack, PagerDuty, SMS...) notified by every alert policy, as projects/PROJECT/notificationChannels/ID."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channel_ids : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each alert_notification_channel_ids entry must be projects/PROJECT/notificationChannels/ID."
  }
}

variable "alerts_enabled" {
  description = "Whether the alert policies are enabled (false keeps them, silenced: e.g. a staging project)."
  type        = bool
  default     = true
}

# ----- Alert thresholds ---------------------------------------------------------------------

variable "job_failure_rate_threshold" {
  description = "Final job failures of one errorCode, as a fraction of the jobs that ended (completed + failed) over the window, above which the failure-rate alert fires."
  type        = number
  default     = 0.1

  validation {
    condition     = var.job_failure_rate_threshold > 0 && var.job_failure_rate_threshold < 1
    error_message = "job_failure_rate_threshold is a fraction: 0 < x < 1."
  }
}

variable "job_failure_rate_window_minutes" {
  description = "Window of the failure-rate alert, in minutes."
  type        = number
  default     = 30
}

variable "job_failure_rate_min_jobs" {
  description = "Jobs that must have ended in the window before the failure-rate alert may fire (one failure out of two jobs is not a rate)."
  type        = number
  default     = 10
}

variable "queue_backlog_age_threshold_seconds" {
  description = "Alert when Cloud Tasks starts the 95th percentile of task attempts this much later than they were due (queue/task_attempt_delays) for 10 minutes: jobs wait in the backlog."
  type        = number
  default     = 300
}

variable "queue_backlog_depth_threshold" {
  description = "Alert when the queue holds more tasks than this for 15 minutes (queue/depth). null: 5 x queue_max_concurrent_dispatches."
  type        = number
  default     = null
}

variable "cleanup_duration_alert_fraction" {
  description = "Alert when a cleanup run takes more than this fraction of its deadline: cleanup_timeout_seconds for retention, recovery_attempt_deadline_seconds for recovery."
  type        = number
  default     = 0.8

  validation {
    condition     = var.cleanup_duration_alert_fraction > 0 && var.cleanup_duration_alert_fraction < 1
    error_message = "cleanup_duration_alert_fraction must be between 0 and 1 (the alert has to fire before the deadline)."
  }
}

variable "cleanup_recovery_absent_minutes" {
  description = "Alert when no recovery run has finished for this many minutes (it runs every 5)."
  type        = number
  default     = 30
}

variable "worker_5xx_alert_count" {
  description = "Alert when process-job answers more than this many 5xx in 10 minutes: crashes (500), a retry whose task could not be created (503), instances stopped by the platform (504)."
  type        = number
  default     = 5
}

variable "api_5xx_alert_count" {
  description = "Alert when the api answers more than this many 5xx (api.unavailable + api.internal_error) in 5 minutes."
  type        = number
  default     = 10
}

variable "daily_token_alert_threshold" {
  description = "Alert when the model tokens of the last 24 hours (prompt + output, from the worker's logs) exceed this. Keep it below PROJECT_DAILY_TOKEN_CEILING (40,000,000 by default), where the service itself stops starting model calls."
  type        = number
  default     = 30000000
}

# ----- Billing budget (budget.tf) -----------------------------------------------------------

variable "billing_account_id" {
  description = "Billing account paying for the project (XXXXXX-XXXXXX-XXXXXX). null: no budget is created (creating one needs Billing Account Administrator or Costs Manager on the account)."
  type        = string
  default     = null

  validation {
    condition     = var.billing_account_id == null || can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account_id))
    error_message = "billing_account_id must look like 012345-6789AB-CDEF01."
  }
}

variable "budget_monthly_amount" {
  description = "Monthly budget of the project, in whole units of the billing account's currency."
  type        = number
  default     = 100
}

variable "budget_currency_code" {
  description = "ISO 4217 code of the budget amount; null: the billing account's currency (a different code is refused)."
  type        = string
  default     = null
}

variable "budget_threshold_percents" {
  description = "Fractions of the monthly budget whose crossing (actual spend) notifies; 1.0 = 100 %. A forecast of 100 % is always notified too."
  type        = list(number)
  default     = [0.5, 0.9, 1.0]

  validation {
    condition     = length(var.budget_threshold_percents) > 0 && alltrue([for p in var.budget_threshold_percents : p > 0])
    error_message = "Give at least one threshold, each > 0."
  }
}

# ----- Firestore backups (backup.tf) --------------------------------------------------------

variable "firestore_backup_enabled" {
  description = "Take a daily Firestore backup of the (default) database (billed as backup storage)."
  type        = bool
  default     = true
}

variable "firestore_backup_retention_days" {
  description = "How long each daily Firestore backup is kept, in days (Firestore allows up to 14 weeks)."
  type        = number
  default     = 14

  validation {
    condition     = var.firestore_backup_retention_days >= 1 && var.firestore_backup_retention_days <= 98
    error_message = "firestore_backup_retention_days must be 1..98 (14 weeks)."
  }
}
