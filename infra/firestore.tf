# Firestore: the database, its composite indexes and field overrides (TTL policies) and the
# security rules. Indexes, overrides and rules are read from the files at the repository root,
# the single source of truth also used by the emulator and by `firebase deploy`:
#   firestore.indexes.json  ->  google_firestore_index (indexes), google_firestore_field (fieldOverrides)
#   firestore.rules         ->  google_firebaserules_ruleset + release "cloud.firestore"

locals {
  firestore_indexes_file = "${path.module}/../firestore.indexes.json"
  firestore_rules_file   = "${path.module}/../firestore.rules"
  firestore_config       = jsondecode(file(local.firestore_indexes_file))

  # Keyed by what the index is, e.g. "generationJobs|COLLECTION|userId:ASCENDING,createdAt:DESCENDING",
  # so adding an index to the file never renames (and so recreates) another one.
  firestore_composite_indexes = {
    for index in local.firestore_config.indexes :
    join("|", [
      index.collectionGroup,
      try(index.queryScope, "COLLECTION"),
      join(",", [for field in index.fields : "${field.fieldPath}:${try(field.order, field.arrayConfig, "VECTOR")}"]),
    ]) => index
  }

  # Keyed "collection.field", e.g. "rateLimitWindows.expireAt".
  firestore_field_overrides = {
    for override in try(local.firestore_config.fieldOverrides, []) :
    "${override.collectionGroup}.${override.fieldPath}" => override
  }
}

resource "google_firestore_database" "main" {
  project     = var.project_id
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"
  # Pessimistic concurrency: transactions take locks (the admission and worker transactions
  # retry ABORTED with jittered backoff, docs/decisions.md 4).
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # `terraform destroy` leaves the database (and the learners' decks) alone.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_composite_indexes

  project     = var.project_id
  database    = google_firestore_database.main.name
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }
}

# Field overrides: TTL policies ("ttl": true) and single-field index settings ("indexes"; an
# empty list exempts the field from indexing, as in the Firebase CLI's format).
resource "google_firestore_field" "override" {
  for_each = local.firestore_field_overrides

  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value.collectionGroup
  field      = each.value.fieldPath

  dynamic "ttl_config" {
    for_each = try(each.value.ttl, false) ? [true] : []
    content {}
  }

  dynamic "index_config" {
    for_each = can(each.value.indexes) ? [each.value.indexes] : []
    content {
      dynamic "indexes" {
        for_each = index_config.value
        content {
          order        = try(indexes.value.order, null)
          array_config = try(indexes.value.arrayConfig, null)
          query_scope  = try(indexes.value.queryScope, "COLLECTION")
        }
      }
    }
  }
}

resource "google_firebaserules_ruleset" "firestore" {
  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = file(local.firestore_rules_file)
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.enabled, google_firestore_database.main]
}

resource "google_firebaserules_release" "firestore" {
  project      = var.project_id
  name         = "cloud.firestore" # the (default) database; a named one is "cloud.firestore/NAME"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"

  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}
