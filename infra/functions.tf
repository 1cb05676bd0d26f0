# The three Cloud Functions (2nd gen), built from the same source zip.

resource "google_cloudfunctions2_function" "api" {
  project     = var.project_id
  location    = var.region
  name        = local.api_function_name
  description = "Public job API (Firebase ID tokens)"
  labels      = var.labels

  build_config {
    runtime           = local.runtime
    entry_point       = "api"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.api.email
    available_memory                 = var.api_memory
    available_cpu                    = var.api_cpu
    timeout_seconds                  = var.api_timeout_seconds
    max_instance_request_concurrency = var.api_concurrency
    min_instance_count               = var.api_min_instances
    max_instance_count               = var.api_max_instances
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    environment_variables            = merge(local.env_common, local.env_api)
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
    # Runtime permissions in place before the first request.
    google_project_iam_member.datastore_user,
    google_cloud_tasks_queue_iam_member.enqueuer,
    google_service_account_iam_member.tasks_act_as,
  ]
}

resource "google_cloudfunctions2_function" "worker" {
  project     = var.project_id
  location    = var.region
  name        = local.worker_function_name
  description = "Question generation worker, called by Cloud Tasks"
  labels      = var.labels

  build_config {
    runtime           = local.runtime
    entry_point       = "process_job"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.worker.email
    available_memory                 = var.worker_memory
    available_cpu                    = var.worker_cpu
    timeout_seconds                  = var.worker_timeout_seconds
    max_instance_request_concurrency = var.worker_concurrency
    min_instance_count               = 0
    max_instance_count               = var.worker_max_instances
    ingress_settings                 = var.private_functions_ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = merge(local.env_common, local.env_worker)

    # The only function that sees the model key.
    secret_environment_variables {
      key        = "GEMINI_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.gemini_api_key.secret_id
      version    = var.gemini_api_key_version
    }
  }

  lifecycle {
    precondition {
      condition     = var.worker_timeout_seconds > local.tasks_dispatch_deadline_seconds && var.worker_timeout_seconds <= 3600
      error_message = "worker_timeout_seconds must be above the task dispatch deadline (local.tasks_dispatch_deadline_seconds) and at most 3600."
    }
    precondition {
      condition     = var.worker_max_instances * var.worker_concurrency >= var.queue_max_concurrent_dispatches
      error_message = "worker_max_instances * worker_concurrency must be >= queue_max_concurrent_dispatches, or Cloud Run refuses deliveries (429) and each refusal uses up a task attempt."
    }
    postcondition {
      condition     = self.url == local.worker_url
      error_message = "The worker's deployed url differs from local.worker_url (WORKER_URL, the tasks' OIDC audience)."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
    # Without it the first revision cannot read GEMINI_API_KEY and the deploy fails.
    google_secret_manager_secret_iam_member.worker_gemini_key,
    google_project_iam_member.datastore_user,
  ]
}

resource "google_cloudfunctions2_function" "cleanup" {
  project     = var.project_id
  location    = var.region
  name        = local.cleanup_function_name
  description = "Retention and stuck-job recovery, called by Cloud Scheduler"
  labels      = var.labels

  build_config {
    runtime           = local.runtime
    entry_point       = "cleanup_jobs"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.cleanup.email
    available_memory      = var.cleanup_memory
    available_cpu         = "1"
    timeout_seconds       = var.cleanup_timeout_seconds
    # One run per instance: a run pages through whole collections and should not share a CPU.
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = var.cleanup_max_instances
    ingress_settings                 = var.private_functions_ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = merge(local.env_common, local.env_cleanup)
  }

  lifecycle {
    postcondition {
      condition     = self.url == local.cleanup_url
      error_message = "The cleanup's deployed url differs from local.cleanup_url (CLEANUP_URL, the scheduler's OIDC audience)."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
    # Runtime permissions in place before the first request.
    google_project_iam_member.datastore_user,
    google_cloud_tasks_queue_iam_member.enqueuer,
    google_service_account_iam_member.tasks_act_as,
  ]
}
