# A monthly billing budget on this project: notifies at each fraction of the amount actually spent
# and when the month's forecast reaches it. A budget only notifies; it never stops spending (the
# service's own brake is PROJECT_DAILY_TOKEN_CEILING on model tokens).
#
# Created only when billing_account_id is set: the identity running Terraform needs Billing
# Account Administrator or Billing Account Costs Manager on that account, and the Billing Budget
# API (billingbudgets.googleapis.com) enabled in this project (the provider bills API calls to
# it). Email recipients: the alert channels (at most 5) and the account's billing admins.

data "google_project" "budget" {
  count      = var.billing_account_id == null ? 0 : 1
  project_id = var.project_id
}

resource "google_billing_budget" "project" {
  count = var.billing_account_id == null ? 0 : 1

  billing_account = var.billing_account_id
  display_name    = "qgen ${var.project_id} monthly"

  budget_filter {
    projects        = ["projects/${data.google_project.budget[0].number}"]
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      currency_code = var.budget_currency_code
      units         = tostring(var.budget_monthly_amount)
    }
  }

  dynamic "threshold_rules" {
    for_each = var.budget_threshold_percents
    content {
      threshold_percent = threshold_rules.value
      spend_basis       = "CURRENT_SPEND"
    }
  }

  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = slice(local.alert_notification_channels, 0, min(5, length(local.alert_notification_channels)))
    disable_default_iam_recipients   = false
  }

  depends_on = [google_project_service.enabled]
}
