# Daily backups of the Firestore (default) database, kept firestore_backup_retention_days (at most
# 14 weeks). Point-in-time recovery (firestore.tf) covers the last 7 days to the minute; a backup
# covers what PITR does not: a mistake found later, or a deleted database. Restoring creates a
# new database from a backup (docs/operations.md, "Backups and restore").

resource "google_firestore_backup_schedule" "daily" {
  count = var.firestore_backup_enabled ? 1 : 0

  project   = var.project_id
  database  = google_firestore_database.main.name
  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}
}
