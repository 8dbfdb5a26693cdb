import Database from "better-sqlite3";
import type { ArtifactKind } from "../core/types.js";
import type { Db } from "./db.js";

/** A file row as backups and fsck see it: where it lives and what its bytes must be. */
export interface RecordedFile {
  project: string;
  filename: string;
  kind: ArtifactKind;
  size: number;
  sha256: string;
  /** The sha256 of `<filename>.metadata` beside it, when the file has one (PEP 658). */
  metadataSha256: string | null;
  deleted: boolean;
}

/**
 * Copies of the database and the file rows they hold: the SQL side of `backup`, `restore` and
 * `fsck`. A copy is opened on its own connection, never through openDb's migrations.
 */
export function recordedFiles(db: Db): RecordedFile[] {
  const rows = db
    .prepare(`SELECT p.name AS project, f.filename, f.kind, f.size, f.sha256, f.metadata_sha256 AS metadataSha256, f.deleted_at IS NOT NULL AS deleted
      FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id ORDER BY f.id`)
    .all() as (Omit<RecordedFile, "deleted"> & { deleted: number })[];
  return rows.map((row) => ({ ...row, deleted: row.deleted === 1 }));
}

/** SQLite's online backup: a consistent copy while other requests go on writing. */
export async function copyDatabase(db: Db, destination: string): Promise<void> {
  await db.backup(destination);
}

/** A copy of the database, as one self-contained file (no -wal beside it). */
export function openCopy(file: string, options: { readonly: boolean }): Db {
  const db = new Database(file, { readonly: options.readonly, fileMustExist: true });
  if (!options.readonly) db.pragma("journal_mode = DELETE");
  return db;
}

/** A file deleted after the copy was taken is recorded as deleted in the copy too. */
export function markDeletedInCopy(copy: Db, filename: string, deletedAt: string): void {
  copy.prepare("UPDATE files SET deleted_at = ?, deleted_by = 'backup: deleted while the backup ran' WHERE filename = ?").run(deletedAt, filename);
}

/** SQLite's own check of every page and index: "ok" or the problems it found. */
export function integrityProblems(db: Db): string[] {
  const rows = db.pragma("integrity_check", { simple: false }) as { integrity_check: string }[];
  return rows.map((row) => row.integrity_check).filter((line) => line !== "ok");
}
