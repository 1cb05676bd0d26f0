# The three Cloud Functions (2nd gen), built from the same source zip. Each runs as the service
# account of the same key (iam.tf) and gets env_common plus its own environment (locals.tf).

locals {
  # Each function's settings, one line per setting (names and URLs: locals.tf; sizing knobs:
  # variables.tf). The cleanup runs one request per instance on one vCPU: a run pages through
  # whole collections and should not share a CPU. The api is the only public function.
  function_description = {
    api     = "Public job API (Firebase ID tokens)"
    worker  = "Question generation worker, called by Cloud Tasks"
    cleanup = "Retention and stuck-job recovery, called by Cloud Scheduler"
  }
  function_memory        = { api = var.api_memory, worker = var.worker_memory, cleanup = var.cleanup_memory }
  function_cpu           = { api = var.api_cpu, worker = var.worker_cpu, cleanup = "1" }
  function_timeout       = { api = var.api_timeout_seconds, worker = var.worker_timeout_seconds, cleanup = var.cleanup_timeout_seconds }
  function_concurrency   = { api = var.api_concurrency, worker = var.worker_concurrency, cleanup = 1 }
  function_min_instances = { api = var.api_min_instances, worker = 0, cleanup = 0 }
  function_max_instances = { api = var.api_max_instances, worker = var.worker_max_instances, cleanup = var.cleanup_max_instances }
  function_ingress       = { api = "ALLOW_ALL", worker = var.private_functions_ingress, cleanup = var.private_functions_ingress }
}

resource "google_cloudfunctions2_function" "function" {
  # Per function: its entry point in functions/main.py, the URL it must be deployed at (see the
  # postcondition), its own environment and its secrets; the other settings are the tables above.
  for_each = {
    api = {
      entry_point        = "api"
      url                = local.api_url
      environment        = local.env_api
      secret_environment = {}
    }
    worker = {
      entry_point = "process_job"
      url         = local.worker_url
      environment = local.env_worker
      # The only function that sees the model key.
      secret_environment = {
        GEMINI_API_KEY = {
          secret  = google_secret_manager_secret.gemini_api_key.secret_id
          version = var.gemini_api_key_version
        }
      }
    }
    cleanup = {
      entry_point        = "cleanup_jobs"
      url                = local.cleanup_url
      environment        = local.env_cleanup
      secret_environment = {}
    }
  }

  project     = var.project_id
  location    = var.region
  name        = local.function_names[each.key]
  description = local.function_description[each.key]
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
    available_memory                 = local.function_memory[each.key]
    available_cpu                    = local.function_cpu[each.key]
    timeout_seconds                  = local.function_timeout[each.key]
    max_instance_request_concurrency = local.function_concurrency[each.key]
    min_instance_count               = local.function_min_instances[each.key]
    max_instance_count               = local.function_max_instances[each.key]
    ingress_settings                 = local.function_ingress[each.key]
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
    # Every grant the build and the runtime need (iam.tf), given a minute to propagate: without
    # the source read the build fails; without the secret grant the worker's first revision
    # cannot read GEMINI_API_KEY and the deploy fails.
    time_sleep.iam_propagation,
  ]
}
