import type { Db } from "./db.js";

export interface WaiverRow {
  id: number;
  project: string;
  /** null: every version of the project. */
  version: string | null;
  /** null: any module (and failures that name none: an install, a library, the smoke check). */
  module: string | null;
  /** `X.Y`; null: every Python. */
  python: string | null;
  /** A waiver of a degraded-build hold rather than of a failed check. */
  degraded: boolean;
  reason: string;
  createdBy: string;
  createdAt: string;
  revokedBy: string | null;
  revokedAt: string | null;
}

export type NewWaiver = Pick<WaiverRow, "project" | "version" | "module" | "python" | "degraded" | "reason" | "createdBy" | "createdAt">;

const COLUMNS = `id, project, version, module, python, degraded, reason, created_by AS createdBy, created_at AS createdAt,
  revoked_by AS revokedBy, revoked_at AS revokedAt FROM waivers`;

type RawWaiver = Omit<WaiverRow, "degraded"> & { degraded: number };

/** Waivers: an admin's acceptance of a failure or hold, kept after revocation as history. */
export class WaiverStore {
  private readonly insertStatement;
  private readonly byIdStatement;
  private readonly activeStatement;
  private readonly forProjectStatement;
  private readonly revokeStatement;

  constructor(db: Db) {
    this.insertStatement = db.prepare(`INSERT INTO waivers (project, version, module, python, degraded, reason, created_by, created_at)
      VALUES (@project, @version, @module, @python, @degraded, @reason, @createdBy, @createdAt) RETURNING id`).pluck();
    this.byIdStatement = db.prepare(`SELECT ${COLUMNS} WHERE id = ?`);
    this.activeStatement = db.prepare(`SELECT ${COLUMNS} WHERE project = ? AND revoked_at IS NULL ORDER BY id`);
    this.forProjectStatement = db.prepare(`SELECT ${COLUMNS} WHERE project = ? ORDER BY id`);
    this.revokeStatement = db.prepare("UPDATE waivers SET revoked_by = ?, revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  }

  insert(waiver: NewWaiver): WaiverRow {
    const id = this.insertStatement.get({ ...waiver, degraded: waiver.degraded ? 1 : 0 }) as number;
    return this.byId(id)!;
  }

  byId(id: number): WaiverRow | undefined {
    const raw = this.byIdStatement.get(id) as RawWaiver | undefined;
    return raw && fromRaw(raw);
  }

  /** The project's waivers in force, oldest first. */
  active(project: string): WaiverRow[] {
    return (this.activeStatement.all(project) as RawWaiver[]).map(fromRaw);
  }

  /** Every waiver of the project, revoked ones too. */
  forProject(project: string): WaiverRow[] {
    return (this.forProjectStatement.all(project) as RawWaiver[]).map(fromRaw);
  }

  /** False when the waiver was revoked already. */
  revoke(id: number, by: string, now: string): boolean {
    return this.revokeStatement.run(by, now, id).changes === 1;
  }
}

function fromRaw(raw: RawWaiver): WaiverRow {
  return { ...raw, degraded: raw.degraded === 1 };
}
