output "api_url" {
  description = "Public URL of the job API (the web client's base URL)."
  value       = google_cloudfunctions2_function.function["api"].url
}

output "worker_url" {
  description = "URL of process_job (WORKER_URL; reachable only with the tasks account's OIDC token)."
  value       = google_cloudfunctions2_function.function["worker"].url
}

output "cleanup_url" {
  description = "URL of cleanup_jobs (CLEANUP_URL; reachable only with the scheduler account's OIDC token)."
  value       = google_cloudfunctions2_function.function["cleanup"].url
}

output "tasks_queue" {
  description = "Full name of the Cloud Tasks queue (gcloud tasks queues pause/resume/purge)."
  value       = google_cloud_tasks_queue.jobs.id
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job names by mode (gcloud scheduler jobs pause/resume/run)."
  value       = { for mode, job in google_cloud_scheduler_job.cleanup : mode => job.name }
}

output "service_accounts" {
  description = "Service account emails by role."
  value       = { for role, account in google_service_account.account : role => account.email }
}

output "gemini_api_key_secret" {
  description = "Secret Manager secret of the Gemini API key (add versions with gcloud)."
  value       = google_secret_manager_secret.gemini_api_key.id
}

output "firestore" {
  description = "Firestore: the database name, the composite indexes created from firestore.indexes.json, the ruleset released as cloud.firestore."
  value = {
    database          = google_firestore_database.main.name
    composite_indexes = keys(google_firestore_index.composite)
    rules_ruleset     = google_firebaserules_release.firestore.ruleset_name
  }
}

output "source_bucket" {
  description = "Bucket holding the functions' source zips."
  value       = google_storage_bucket.source.name
}

output "source_object" {
  description = "Source zip the functions were built from."
  value       = google_storage_bucket_object.source.name
}
