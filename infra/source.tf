# The source of all three functions: functions/ (main.py, requirements.txt, the qgen package),
# zipped by Terraform and uploaded under a content-addressed name, so a code change is a new
# object and therefore a new build and revision of each function.

data "archive_file" "functions" {
  type             = "zip"
  source_dir       = "${path.module}/../functions"
  output_path      = "${path.module}/.build/functions-source.zip"
  output_file_mode = "0644"
  excludes = [
    "qgen.egg-info",
    "qgen.egg-info/**",
    "**/__pycache__",
    "**/__pycache__/**",
    "**/*.pyc",
  ]
}

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-qgen-functions-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "functions-${data.archive_file.functions.output_md5}.zip"
  source = data.archive_file.functions.output_path
}

# Images built for the functions. Keeping our own repository (instead of the default
# gcf-artifacts) lets the build account write here and nowhere else, and prunes old images.
resource "google_artifact_registry_repository" "functions" {
  project       = var.project_id
  location      = var.region
  repository_id = "qgen-functions"
  description   = "Images of the qgen Cloud Functions"
  format        = "DOCKER"
  labels        = var.labels

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days; the 5 most recent images of each function are kept
    }
  }

  depends_on = [google_project_service.enabled]
}
