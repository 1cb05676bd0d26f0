# The Gemini API key. Terraform owns the secret and who may read it, never the key itself (it
# would otherwise sit in the state file): add a version with gcloud, see README.md.
resource "google_secret_manager_secret" "gemini_api_key" {
  project   = var.project_id
  secret_id = var.gemini_api_key_secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}
