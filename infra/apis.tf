# Every Google API the service uses. Eventarc is not needed: all three functions are HTTP
# functions (the worker is called by Cloud Tasks, the cleanup by Cloud Scheduler).
locals {
  required_apis = toset([
    "artifactregistry.googleapis.com",     # function images (built by Cloud Build)
    "cloudbuild.googleapis.com",           # builds the functions from the source zip
    "cloudfunctions.googleapis.com",       # Cloud Functions (2nd gen)
    "cloudresourcemanager.googleapis.com", # project IAM bindings from Terraform
    "cloudscheduler.googleapis.com",       # retention and recovery schedules
    "cloudtasks.googleapis.com",           # the question-generation queue
    "fcm.googleapis.com",                  # Cloud Messaging: job-end notifications
    "firebaserules.googleapis.com",        # firestore.rules release
    "firestore.googleapis.com",            # the database, indexes, TTL policies
    "iam.googleapis.com",                  # service accounts
    "billingbudgets.googleapis.com",       # the billing budget (budget.tf)
    "logging.googleapis.com",              # structured logs, build logs, log-based metrics
    "monitoring.googleapis.com",           # alert policies, dashboard (monitoring.tf)
    "run.googleapis.com",                  # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",        # the Gemini API key
    "storage.googleapis.com",              # the function source bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.required_apis

  project = var.project_id
  service = each.value

  # Turning an API off on `terraform destroy` would break anything else in the project using it.
  disable_on_destroy         = false
  disable_dependent_services = false
}
