import type { Db } from "./db.js";

export interface SmokeCheckRow {
  project: string;
  code: string;
  setBy: string;
  setAt: string;
}

/** Each project's smoke check: one snippet of Python the checker runs after the imports. */
export class SmokeCheckStore {
  private readonly getStatement;
  private readonly setStatement;
  private readonly clearStatement;

  constructor(db: Db) {
    this.getStatement = db.prepare(`SELECT p.name AS project, s.code, s.set_by AS setBy, s.set_at AS setAt
      FROM smoke_checks s JOIN projects p ON p.id = s.project_id WHERE p.id = ?`);
    this.setStatement = db.prepare(`INSERT INTO smoke_checks (project_id, code, set_by, set_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (project_id) DO UPDATE SET code = excluded.code, set_by = excluded.set_by, set_at = excluded.set_at`);
    this.clearStatement = db.prepare("DELETE FROM smoke_checks WHERE project_id = ?");
  }

  of(projectId: number): SmokeCheckRow | undefined {
    return this.getStatement.get(projectId) as SmokeCheckRow | undefined;
  }

  set(projectId: number, code: string, by: string, now: string): void {
    this.setStatement.run(projectId, code, by, now);
  }

  /** False when the project had none. */
  clear(projectId: number): boolean {
    return this.clearStatement.run(projectId).changes === 1;
  }
}
