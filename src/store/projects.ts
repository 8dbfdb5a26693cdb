import type { Db } from "./db.js";
import type { NormalizedName } from "../core/types.js";

/** A project as a search lists it: with the summary of its newest file. */
export interface ProjectSummary {
  name: NormalizedName;
  displayName: string;
  summary: string;
}

export interface ProjectRow {
  id: number;
  name: NormalizedName;
  displayName: string;
  serial: number;
}

/** Projects and the serial counter that tells page caches when a project changed. */
export class ProjectStore {
  private readonly byNameStatement;
  private readonly serialStatement;
  private readonly globalSerialStatement;
  private readonly insertStatement;
  private readonly bumpCounterStatement;
  private readonly setSerialStatement;
  private readonly listStatement;
  private readonly changedSinceStatement;
  private readonly searchStatement;
  private readonly setSummaryStatement;

  constructor(db: Db) {
    const columns = "id, name, display_name AS displayName, serial";
    this.byNameStatement = db.prepare(`SELECT ${columns} FROM projects WHERE name = ?`);
    this.serialStatement = db.prepare("SELECT serial FROM projects WHERE name = ?").pluck();
    this.globalSerialStatement = db.prepare("SELECT value FROM counters WHERE name = 'serial'").pluck();
    this.insertStatement = db.prepare(
      "INSERT INTO projects (name, display_name, serial, created_at) VALUES (?, ?, 0, ?) RETURNING id",
    ).pluck();
    this.bumpCounterStatement = db.prepare("UPDATE counters SET value = value + 1 WHERE name = 'serial' RETURNING value").pluck();
    this.setSerialStatement = db.prepare("UPDATE projects SET serial = ? WHERE id = ?");
    this.changedSinceStatement = db.prepare("SELECT name FROM projects WHERE serial > ?").pluck();
    this.listStatement = db.prepare(`SELECT ${columns} FROM projects p WHERE EXISTS (SELECT 1 FROM releases r
      JOIN files f ON f.release_id = r.id WHERE r.project_id = p.id AND f.deleted_at IS NULL
      AND (f.kind = 'sdist' OR (f.verification IN (SELECT value FROM json_each(?)) AND (? OR f.hold_reason = '')))) ORDER BY name`);
    this.searchStatement = db.prepare(`SELECT p.name, p.display_name AS displayName, p.summary FROM projects p
      WHERE (@readable IS NULL OR p.id IN (SELECT value FROM json_each(@readable)))
        AND (p.name LIKE @pattern ESCAPE '\\' OR p.display_name LIKE @pattern ESCAPE '\\' OR p.summary LIKE @pattern ESCAPE '\\')
      ORDER BY p.name LIMIT @limit`);
    this.setSummaryStatement = db.prepare("UPDATE projects SET summary = ? WHERE id = ?");
  }

  /**
   * Projects of the `readable` ones (all when "all") whose name or newest summary contains `text`
   * (case-insensitive), by name.
   */
  search(text: string, readable: number[] | "all", limit: number): ProjectSummary[] {
    const pattern = `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
    return this.searchStatement.all({ pattern, readable: readable === "all" ? null : JSON.stringify(readable), limit }) as ProjectSummary[];
  }

  byName(name: NormalizedName): ProjectRow | undefined {
    return this.byNameStatement.get(name) as ProjectRow | undefined;
  }

  /** The project's serial, or undefined for an unknown project: one indexed lookup per page view. */
  serial(name: NormalizedName): number | undefined {
    return this.serialStatement.get(name) as number | undefined;
  }

  globalSerial(): number {
    return this.globalSerialStatement.get() as number;
  }

  /** Names of the projects changed after `serial` (every project for -1): what the page files must render again. */
  changedSince(serial: number): NormalizedName[] {
    return this.changedSinceStatement.all(serial) as NormalizedName[];
  }

  create(name: NormalizedName, displayName: string, now: string): ProjectRow {
    const id = this.insertStatement.get(name, displayName, now) as number;
    return { id, name, displayName, serial: 0 };
  }

  /** The project's summary as searches see it: its newest file's. */
  setSummary(projectId: number, summary: string): void {
    this.setSummaryStatement.run(summary, projectId);
  }

  /** Mark a project changed (inside the transaction that changed it). */
  touch(projectId: number): void {
    this.setSerialStatement.run(this.bumpCounterStatement.get(), projectId);
  }

  /** Projects with at least one live sdist, or egg or wheel whose verification is one of these. */
  /** Projects with a live sdist, or an egg or wheel of these verifications (held ones only when `includeHeld`). */
  listed(verifications: readonly string[], includeHeld: boolean): ProjectRow[] {
    return this.listStatement.all(JSON.stringify(verifications), includeHeld ? 1 : 0) as ProjectRow[];
  }
}
