# The three Cloud Functions (2nd gen), built from the same source zip. Each runs as the service
# account of the same key (iam.tf) and gets env_common plus its own environment (locals.tf).

resource "google_cloudfunctions2_function" "function" {
  for_each = {
    api = {
      name               = local.api_function_name
      entry_point        = "api"
      description        = "Public job API (Firebase ID tokens)"
      url                = local.api_url
      memory             = var.api_memory
      cpu                = var.api_cpu
      timeout_seconds    = var.api_timeout_seconds
      concurrency        = var.api_concurrency
      min_instances      = var.api_min_instances
      max_instances      = var.api_max_instances
      ingress            = "ALLOW_ALL"
      environment        = local.env_api
      secret_environment = {}
    }
    worker = {
      name            = local.worker_function_name
      entry_point     = "process_job"
      description     = "Question generation worker, called by Cloud Tasks"
      url             = local.worker_url
      memory          = var.worker_memory
      cpu             = var.worker_cpu
      timeout_seconds = var.worker_timeout_seconds
      concurrency     = var.worker_concurrency
      min_instances   = 0
      max_instances   = var.worker_max_instances
      ingress         = var.private_functions_ingress
      environment     = local.env_worker
      # The only function that sees the model key.
      secret_environment = {
        GEMINI_API_KEY = {
          secret  = google_secret_manager_secret.gemini_api_key.secret_id
          version = var.gemini_api_key_version
        }
      }
    }
    cleanup = {
      name            = local.cleanup_function_name
      entry_point     = "cleanup_jobs"
      description     = "Retention and stuck-job recovery, called by Cloud Scheduler"
      url             = local.cleanup_url
      memory          = var.cleanup_memory
      cpu             = "1"
      timeout_seconds = var.cleanup_timeout_seconds
      # One run per instance: a run pages through whole collections and should not share a CPU.
      concurrency        = 1
      min_instances      = 0
      max_instances      = var.cleanup_max_instances
      ingress            = var.private_functions_ingress
      environment        = local.env_cleanup
      secret_environment = {}
    }
  }

  project     = var.project_id
  location    = var.region
  name        = each.value.name
  description = each.value.description
  labels      = var.labels

  build_config {
    runtime           = local.runtime
    entry_point       = each.value.entry_point
    service_account   = google_service_account.account["build"].id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.account[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = merge(local.env_common, each.value.environment)

    dynamic "secret_environment_variables" {
      for_each = each.value.secret_environment
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }

  lifecycle {
    # The worker's and the cleanup's URLs are their OIDC audiences (WORKER_URL, CLEANUP_URL),
    # computed in locals.tf since a function cannot refer to its own attributes.
    postcondition {
      condition     = self.url == each.value.url
      error_message = "The ${each.key} function's deployed url differs from local.${each.key}_url."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
    # Runtime permissions in place before the first request; without the secret grant the
    # worker's first revision cannot read GEMINI_API_KEY and the deploy fails.
    google_project_iam_member.datastore_user,
    google_cloud_tasks_queue_iam_member.enqueuer,
    google_service_account_iam_member.tasks_act_as,
    google_secret_manager_secret_iam_member.worker_gemini_key,
  ]
}
