import type { Db } from "./db.js";
import type { ArtifactKind, Filename, NormalizedName, Sha256, Version } from "../core/types.js";

export type Origin = "upload" | "import" | "build";

/** Where a farm-built file came from: enough to tell the agent's own build from anything else. */
export interface BuildProvenance {
  jobId: number;
  agent: string;
  /** Which lease of the job (1 for the first attempt): the lease whose secret came with the result. */
  attempt: number;
  sdistSha256: string;
  /** sha256 of the build log as the server stored it when the result arrived. */
  logSha256: string;
}

/** One stored distribution file as the index shows it. */
export interface FileRow {
  id: number;
  project: NormalizedName;
  projectDisplayName: string;
  version: Version;
  filename: Filename;
  kind: ArtifactKind;
  pythonTag: string;
  abiTag: string | null;
  platform: string | null;
  buildTag: string | null;
  size: number;
  sha256: Sha256;
  md5: string;
  blake2b256: string | null;
  metadataSha256: Sha256 | null;
  requiresPython: string | null;
  requiresDist: string[];
  summary: string;
  uploadedAt: string;
  uploader: string;
  origin: Origin;
  yanked: boolean;
  yankReason: string;
  deletedAt: string | null;
  /** The build job that produced the file; null for uploads and imports. */
  jobId: number | null;
  nativeModules: string[];
  /** Shared libraries the native modules link, as the build agent's `ldd` saw them. */
  linkedLibraries: string[];
  /** Platform-specific name but no compiled code inside: an optional extension silently failed to build. */
  degraded: boolean;
  /** Why the file is held off the default index (degraded or regressed build); empty when it is not held. */
  holdReason: string;
  /** The import checker's current verdict (sdists are never checked). */
  verification: "pending" | "verified" | "failed";
  /** Farm builds only. */
  provenance: BuildProvenance | null;
}

/** A release as a project's page lists it. */
export interface ReleaseRow {
  version: Version;
  yanked: boolean;
  yankReason: string;
  /** How many live files it has. */
  files: number;
}

export type NewFile = Omit<
  FileRow,
  "id" | "project" | "projectDisplayName" | "version" | "yanked" | "yankReason" | "deletedAt" | "verification"
>;

interface RawFile extends Omit<FileRow, "requiresDist" | "yanked" | "nativeModules" | "linkedLibraries" | "degraded" | "provenance"> {
  provenance: string | null;
  requiresDist: string;
  yanked: number;
  nativeModules: string;
  linkedLibraries: string;
  degraded: number;
}

const COLUMNS = `f.id, p.name AS project, p.display_name AS projectDisplayName, r.version, f.filename, f.kind,
  f.python_tag AS pythonTag, f.abi_tag AS abiTag, f.platform, f.build_tag AS buildTag, f.size, f.sha256, f.md5,
  f.blake2b_256 AS blake2b256, f.metadata_sha256 AS metadataSha256, f.requires_python AS requiresPython,
  f.requires_dist AS requiresDist, f.summary, f.uploaded_at AS uploadedAt, f.uploader,
  f.origin, r.yanked, r.yank_reason AS yankReason, f.deleted_at AS deletedAt, f.job_id AS jobId,
  f.native_modules AS nativeModules, f.linked_libraries AS linkedLibraries, f.degraded, f.hold_reason AS holdReason, f.verification, f.provenance
  FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id`;

/** Releases and their files. Deleted files keep their row so their names are never reused. */
export class FileStore {
  private readonly byFilenameStatement;
  private readonly liveByProjectStatement;
  private readonly releaseStatement;
  private readonly insertReleaseStatement;
  private readonly insertFileStatement;
  private readonly yankStatement;
  private readonly deleteStatement;
  private readonly releaseExistsStatement;
  private readonly setHoldStatement;
  private readonly releaseHoldStatement;
  private readonly holdReleasedStatement;
  private readonly liveByReleaseStatement;
  private readonly byJobStatement;
  private readonly releasesStatement;
  private readonly recentStatement;
  private readonly failedStatement;
  private readonly heldStatement;

  constructor(db: Db) {
    this.byFilenameStatement = db.prepare(`SELECT ${COLUMNS} WHERE f.filename = ?`);
    this.liveByProjectStatement = db.prepare(`SELECT ${COLUMNS} WHERE p.id = ? AND f.deleted_at IS NULL`);
    this.releaseStatement = db.prepare("SELECT id FROM releases WHERE project_id = ? AND version = ?").pluck();
    this.insertReleaseStatement = db.prepare("INSERT INTO releases (project_id, version) VALUES (?, ?) RETURNING id").pluck();
    this.insertFileStatement = db.prepare(`INSERT INTO files (release_id, filename, kind, python_tag, abi_tag, platform,
      build_tag, size, sha256, md5, blake2b_256, metadata_sha256, requires_python, requires_dist, summary,
      uploaded_at, uploader, origin, job_id, native_modules, linked_libraries, degraded, hold_reason, provenance) VALUES (@releaseId, @filename,
      @kind, @pythonTag, @abiTag, @platform, @buildTag, @size, @sha256, @md5, @blake2b256, @metadataSha256, @requiresPython,
      @requiresDist, @summary, @uploadedAt, @uploader, @origin, @jobId, @nativeModules, @linkedLibraries,
      @degraded, @holdReason, @provenance) RETURNING id`).pluck();
    this.setHoldStatement = db.prepare("UPDATE files SET hold_reason = ? WHERE id = ?");
    this.releaseHoldStatement = db.prepare("UPDATE files SET hold_reason = '', hold_released_at = ? WHERE id = ?");
    this.holdReleasedStatement = db.prepare("SELECT hold_released_at IS NOT NULL FROM files WHERE id = ?").pluck();
    this.liveByReleaseStatement = db.prepare(`SELECT ${COLUMNS} WHERE p.id = ? AND r.version = ? AND f.deleted_at IS NULL`);
    this.byJobStatement = db.prepare(`SELECT ${COLUMNS} WHERE f.job_id = ? AND f.deleted_at IS NULL`);
    this.releasesStatement = db.prepare(`SELECT r.version, r.yanked, r.yank_reason AS yankReason, count(*) AS files FROM releases r
      JOIN files f ON f.release_id = r.id AND f.deleted_at IS NULL WHERE r.project_id = ? GROUP BY r.id`);
    const readable = "(@readable IS NULL OR p.id IN (SELECT value FROM json_each(@readable)))";
    this.recentStatement = db.prepare(`SELECT ${COLUMNS} WHERE f.deleted_at IS NULL AND f.origin != 'build' AND ${readable} ORDER BY f.id DESC LIMIT @limit`);
    this.failedStatement = db.prepare(`SELECT ${COLUMNS} WHERE f.verification = 'failed' AND f.deleted_at IS NULL AND ${readable} ORDER BY f.id DESC LIMIT @limit`);
    this.heldStatement = db.prepare(`SELECT ${COLUMNS} WHERE f.hold_reason != '' AND f.deleted_at IS NULL AND ${readable} ORDER BY f.id DESC LIMIT @limit`);
    this.yankStatement = db.prepare("UPDATE releases SET yanked = ?, yank_reason = ? WHERE project_id = ? AND version = ?");
    this.deleteStatement = db.prepare("UPDATE files SET deleted_at = ?, deleted_by = ? WHERE id = ?");
    this.releaseExistsStatement = db.prepare(
      "SELECT 1 FROM releases r JOIN files f ON f.release_id = r.id WHERE r.project_id = ? AND r.version = ? AND f.deleted_at IS NULL LIMIT 1",
    ).pluck();
  }

  byFilename(filename: string): FileRow | undefined {
    const raw = this.byFilenameStatement.get(filename) as RawFile | undefined;
    return raw && fromRaw(raw);
  }

  liveByProject(projectId: number): FileRow[] {
    return (this.liveByProjectStatement.all(projectId) as RawFile[]).map(fromRaw);
  }

  /** One release's live files. */
  liveByRelease(projectId: number, version: Version): FileRow[] {
    return (this.liveByReleaseStatement.all(projectId, version) as RawFile[]).map(fromRaw);
  }

  /** The live files a build job produced. */
  byJob(jobId: number): FileRow[] {
    return (this.byJobStatement.all(jobId) as RawFile[]).map(fromRaw);
  }

  /** The project's releases that have a live file, with how many (in no particular order). */
  releases(projectId: number): ReleaseRow[] {
    return (this.releasesStatement.all(projectId) as (Omit<ReleaseRow, "yanked"> & { yanked: number })[]).map((row) => ({ ...row, yanked: row.yanked === 1 }));
  }

  insert(projectId: number, version: Version, file: NewFile): number {
    const releaseId =
      (this.releaseStatement.get(projectId, version) as number | undefined) ??
      (this.insertReleaseStatement.get(projectId, version) as number);
    return this.insertFileStatement.get({
      ...file,
      releaseId,
      requiresDist: JSON.stringify(file.requiresDist),
      nativeModules: JSON.stringify(file.nativeModules),
      linkedLibraries: JSON.stringify(file.linkedLibraries),
      degraded: file.degraded ? 1 : 0,
      provenance: file.provenance && JSON.stringify(file.provenance),
    }) as number;
  }

  hasLiveRelease(projectId: number, version: Version): boolean {
    return this.releaseExistsStatement.get(projectId, version) !== undefined;
  }

  setYank(projectId: number, version: Version, yanked: boolean, reason: string): void {
    this.yankStatement.run(yanked ? 1 : 0, reason, projectId, version);
  }

  /** Hold the file off the default index for `reason`, or release it (empty reason). */
  setHold(fileId: number, reason: string): void {
    this.setHoldStatement.run(reason, fileId);
  }

  /** Clear the hold and note when: a released hold is never made again. */
  releaseHold(fileId: number, now: string): void {
    this.releaseHoldStatement.run(now, fileId);
  }

  holdReleased(fileId: number): boolean {
    return this.holdReleasedStatement.get(fileId) === 1;
  }

  /** The newest uploads and imports (not farm builds) of the `readable` projects (all when "all"). */
  recent(readable: number[] | "all", limit: number): FileRow[] {
    return this.newest(this.recentStatement, readable, limit);
  }

  /** The newest files whose check failed, of the `readable` projects. */
  failed(readable: number[] | "all", limit: number): FileRow[] {
    return this.newest(this.failedStatement, readable, limit);
  }

  /** The newest files held off the default index, of the `readable` projects. */
  held(readable: number[] | "all", limit: number): FileRow[] {
    return this.newest(this.heldStatement, readable, limit);
  }

  private newest(statement: { all(parameters: object): unknown[] }, readable: number[] | "all", limit: number): FileRow[] {
    const rows = statement.all({ readable: readable === "all" ? null : JSON.stringify(readable), limit }) as RawFile[];
    return rows.map(fromRaw);
  }

  markDeleted(fileId: number, at: string, by: string): void {
    this.deleteStatement.run(at, by, fileId);
  }
}

function fromRaw(raw: RawFile): FileRow {
  return {
    ...raw,
    requiresDist: JSON.parse(raw.requiresDist),
    yanked: raw.yanked === 1,
    nativeModules: JSON.parse(raw.nativeModules),
    linkedLibraries: JSON.parse(raw.linkedLibraries),
    degraded: raw.degraded === 1,
    provenance: raw.provenance === null ? null : JSON.parse(raw.provenance),
  };
}
