# Terraform and provider versions. `terraform init` downloads the providers (it needs network
# access to registry.terraform.io); `terraform fmt` does not and runs in CI (`make lint`).
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.13, < 8.0" # 6.13: disable_metric_validation (monitoring.tf)
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.5, < 3.0" # 2.5 added glob patterns in excludes
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0" # time_sleep: waits for IAM grants to propagate (iam.tf)
    }
  }

  # State is local by default. For a team, keep it in a bucket instead, e.g.
  #   backend "gcs" { bucket = "my-tf-state" prefix = "qgen" }
  # and `terraform init -migrate-state` (see README.md).
}

provider "google" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}
