# One service account per role, each with only what that role does. Project-level grants are
# limited to roles that have no narrower resource (Firestore data access, build log writing, and
# the build's reading of the source from a bucket Google creates); everything else is granted on
# the one resource it concerns.
#
#   api        runs `api`:          Firestore data; enqueue on the queue; actAs tasks (mint the
#                                   tasks' OIDC identity); send FCM messages
#   worker     runs `process_job`:  Firestore data; read the Gemini key secret; enqueue; actAs
#                                   tasks; send FCM messages
#   cleanup    runs `cleanup_jobs`: Firestore data; enqueue on the queue (recovery re-enqueues);
#                                   actAs tasks; send FCM messages
#   tasks      the identity Cloud Tasks signs its OIDC token with: invoker of process_job only
#   scheduler  the identity Cloud Scheduler signs its OIDC token with: invoker of cleanup_jobs only
#   build      Cloud Build for the three functions: logs, push images, read the source zip
#              (project-wide: the build reads it from Google's gcf-v2-sources bucket)
#
# Google-managed service agents need nothing from us: Cloud Tasks' and Cloud Scheduler's agents
# hold their service-agent roles (which let them mint OIDC tokens for service accounts of the
# project) from the moment the API is enabled.

resource "google_service_account" "account" {
  for_each = {
    api       = "qgen api (public HTTP function)"
    worker    = "qgen process_job (worker)"
    cleanup   = "qgen cleanup_jobs (retention and recovery)"
    tasks     = "qgen Cloud Tasks OIDC identity (invokes process_job)"
    scheduler = "qgen Cloud Scheduler OIDC identity (invokes cleanup_jobs)"
    build     = "qgen Cloud Build (builds the three functions)"
  }

  project      = var.project_id
  account_id   = "qgen-${each.key}"
  display_name = each.value
  depends_on   = [google_project_service.enabled]
}

# ----- Firestore ----------------------------------------------------------------------------
# Firestore data access is granted per project (there is no per-collection IAM); the rules do
# not apply to these server identities, so the code is what keeps each one to its collections.

resource "google_project_iam_member" "datastore_user" {
  for_each = toset(["api", "worker", "cleanup"])

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.account[each.key].member
}

# ----- Cloud Messaging ----------------------------------------------------------------------
# A job's end is sent to the learner's devices by the worker that ended it, the api (a cancel)
# or the sweep (what the outbox still holds). FCM's send permission
# (cloudmessaging.messages.create) has no narrower resource than the project.

resource "google_project_iam_member" "fcm_sender" {
  for_each = { fcm_api = "api", fcm_worker = "worker", fcm_cleanup = "cleanup" }

  project = var.project_id
  role    = "roles/firebasecloudmessaging.admin"
  member  = google_service_account.account[each.value].member
}

# ----- Cloud Tasks: who may enqueue, and as whom --------------------------------------------

# The worker enqueues too: a retryable failure queues the job's next attempt as a new task to
# run after a wait (docs/decisions.md §33).
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = toset(["api", "worker", "cleanup"])

  project  = var.project_id
  location = google_cloud_tasks_queue.jobs.location
  name     = google_cloud_tasks_queue.jobs.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.account[each.key].member
}

# Creating a task with an OIDC token "as" the tasks account needs iam.serviceAccounts.actAs on
# that account (and on that account only).
resource "google_service_account_iam_member" "tasks_act_as" {
  for_each = toset(["api", "worker", "cleanup"])

  service_account_id = google_service_account.account["tasks"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.account[each.key].member
}

# ----- Secret Manager -----------------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "worker_gemini_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.gemini_api_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.account["worker"].member
}

# ----- Who may invoke which function (Cloud Run invoker on the function's service) ----------

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = {
    # The api is public: learners call it with a Firebase ID token, checked by the code.
    api     = "allUsers"
    worker  = google_service_account.account["tasks"].member
    cleanup = google_service_account.account["scheduler"].member
  }

  project  = var.project_id
  location = google_cloudfunctions2_function.function[each.key].location
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = each.value
}

# ----- Build --------------------------------------------------------------------------------
# What the google provider's "Cloudfunctions2 Basic Builder" example grants its build account
# (logs, Artifact Registry, storage objects on the project), each kept as narrow as it goes:
#
# - Source: Cloud Functions (2nd gen) copies the uploaded zip into a bucket of its own,
#   gcf-v2-sources-PROJECT_NUMBER-REGION, created by Google on the first deployment, and the
#   build reads the source from there, not from our source bucket. With a grant on our bucket
#   alone the build fails on storage.objects.get; the Google-managed bucket can only be reached
#   by a project-level grant. Reading is all the build does with it:
#   storage.objectViewer (the provider's example grants storage.objectAdmin; Google's
#   roles/run.builder, the documented all-in-one build role, holds only storage.objects.get).
# - Images: Artifact Registry writer on our repository only (source.tf), not project-wide.

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.account["build"].member
}

resource "google_project_iam_member" "build_source_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.account["build"].member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.account["build"].member
}

# ----- Waiting for the grants -----------------------------------------------------------------
# IAM is eventually consistent: a grant can take a minute or more to be seen everywhere. Without
# the wait, the first apply's builds fail on the source read and the worker's first revision on
# the secret, then succeed on a second apply. As in the provider's builder example, a fixed
# sleep after the grants, and the functions depend on it. It waits on creation only, i.e. on
# the first apply (and when a grant is replaced, the sleep is not re-run: apply again if a
# build then fails on a permission).
resource "time_sleep" "iam_propagation" {
  create_duration = "60s"

  depends_on = [
    # the build account
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_source_reader,
    google_artifact_registry_repository_iam_member.build_writer,
    # the runtime accounts: the worker's revision cannot start without its secret
    google_project_iam_member.datastore_user,
    google_cloud_tasks_queue_iam_member.enqueuer,
    google_service_account_iam_member.tasks_act_as,
    google_secret_manager_secret_iam_member.worker_gemini_key,
  ]
}
