# One service account per role, each with only what that role does. Project-level grants are
# limited to roles that have no narrower resource (Firestore data access, build log writing);
# everything else is granted on the one resource it concerns.
#
#   api        runs `api`:          Firestore data; enqueue on the queue; actAs tasks (mint the
#                                   tasks' OIDC identity)
#   worker     runs `process_job`:  Firestore data; read the Gemini key secret
#   cleanup    runs `cleanup_jobs`: Firestore data; enqueue on the queue (recovery re-enqueues);
#                                   actAs tasks
#   tasks      the identity Cloud Tasks signs its OIDC token with: invoker of process_job only
#   scheduler  the identity Cloud Scheduler signs its OIDC token with: invoker of cleanup_jobs only
#   build      Cloud Build for the three functions: logs, push images, read the source zip
#
# Google-managed service agents need nothing from us: Cloud Tasks' and Cloud Scheduler's agents
# hold their service-agent roles (which let them mint OIDC tokens for service accounts of the
# project) from the moment the API is enabled.

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "qgen-api"
  display_name = "qgen api (public HTTP function)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "qgen-worker"
  display_name = "qgen process_job (worker)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "cleanup" {
  project      = var.project_id
  account_id   = "qgen-cleanup"
  display_name = "qgen cleanup_jobs (retention and recovery)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "qgen-tasks"
  display_name = "qgen Cloud Tasks OIDC identity (invokes process_job)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "qgen-scheduler"
  display_name = "qgen Cloud Scheduler OIDC identity (invokes cleanup_jobs)"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "qgen-build"
  display_name = "qgen Cloud Build (builds the three functions)"
  depends_on   = [google_project_service.enabled]
}

# ----- Firestore ----------------------------------------------------------------------------
# Firestore data access is granted per project (there is no per-collection IAM); the rules do
# not apply to these server identities, so the code is what keeps each one to its collections.

resource "google_project_iam_member" "datastore_user" {
  for_each = {
    api     = google_service_account.api.member
    worker  = google_service_account.worker.member
    cleanup = google_service_account.cleanup.member
  }

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value
}

# ----- Cloud Tasks: who may enqueue, and as whom --------------------------------------------

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = {
    api     = google_service_account.api.member
    cleanup = google_service_account.cleanup.member
  }

  project  = var.project_id
  location = google_cloud_tasks_queue.jobs.location
  name     = google_cloud_tasks_queue.jobs.name
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value
}

# Creating a task with an OIDC token "as" the tasks account needs iam.serviceAccounts.actAs on
# that account (and on that account only).
resource "google_service_account_iam_member" "tasks_act_as" {
  for_each = {
    api     = google_service_account.api.member
    cleanup = google_service_account.cleanup.member
  }

  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# ----- Secret Manager -----------------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "worker_gemini_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.gemini_api_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

# ----- Who may invoke which function (Cloud Run invoker on the function's service) ----------

resource "google_cloud_run_v2_service_iam_member" "api_public" {
  project  = var.project_id
  location = google_cloudfunctions2_function.api.location
  name     = google_cloudfunctions2_function.api.name
  role     = "roles/run.invoker"
  # The api is public: learners call it with a Firebase ID token, checked by the code.
  member = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "worker_tasks" {
  project  = var.project_id
  location = google_cloudfunctions2_function.worker.location
  name     = google_cloudfunctions2_function.worker.name
  role     = "roles/run.invoker"
  member   = google_service_account.tasks.member
}

resource "google_cloud_run_v2_service_iam_member" "cleanup_scheduler" {
  project  = var.project_id
  location = google_cloudfunctions2_function.cleanup.location
  name     = google_cloudfunctions2_function.cleanup.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# ----- Build --------------------------------------------------------------------------------

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
