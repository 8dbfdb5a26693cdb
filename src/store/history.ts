import type { Db } from "./db.js";

export interface HistoryEvent {
  actor: string;
  action: string;
  project?: string;
  subject?: string;
  detail?: string;
}

export interface HistoryRow extends Required<HistoryEvent> {
  id: number;
  at: string;
}

/** An append-only record of every change, for "who deleted this file and when". */
export class HistoryStore {
  private readonly insertStatement;
  private readonly forProjectStatement;

  constructor(db: Db) {
    this.insertStatement = db.prepare(
      "INSERT INTO history (at, actor, action, project, subject, detail) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.forProjectStatement = db.prepare("SELECT * FROM history WHERE project = ? ORDER BY id");
  }

  record(at: string, event: HistoryEvent): void {
    this.insertStatement.run(at, event.actor, event.action, event.project ?? null, event.subject ?? null, event.detail ?? "");
  }

  forProject(project: string): HistoryRow[] {
    return this.forProjectStatement.all(project) as HistoryRow[];
  }
}
