import type { Db } from "./db.js";

export interface Count {
  key: string;
  count: number;
}

export interface FinishedBuild {
  id: number;
  status: string;
  seconds: number;
}

export interface Verdicts {
  interpreter: string;
  status: "verified" | "failed";
  count: number;
}

/** Aggregate counts across tables for /healthz and /metrics: read-only, one statement each. */
export class StatsStore {
  private readonly jobsStatement;
  private readonly checksStatement;
  private readonly verdictsStatement;
  private readonly bytesStatement;
  private readonly agentsStatement;
  private readonly lastEventStatement;
  private readonly finishedStatement;
  private readonly probeStatement;

  constructor(private readonly db: Db) {
    this.jobsStatement = db.prepare("SELECT status AS key, count(*) AS count FROM jobs GROUP BY status");
    this.checksStatement = db.prepare("SELECT status AS key, count(*) AS count FROM checks GROUP BY status");
    this.verdictsStatement = db.prepare(`SELECT interpreter, status, count(*) AS count FROM checks
      WHERE status IN ('verified', 'failed') AND interpreter IS NOT NULL GROUP BY interpreter, status`);
    // Deleted files keep their rows, so these sums only grow: counters, not gauges.
    this.bytesStatement = db.prepare("SELECT origin AS key, coalesce(sum(size), 0) AS count FROM files GROUP BY origin");
    this.agentsStatement = db.prepare(`SELECT count(*) AS registered, coalesce(sum(last_seen_at >= ?), 0) AS online
      FROM agents WHERE revoked_at IS NULL`);
    this.lastEventStatement = db.prepare("SELECT coalesce(max(id), 0) FROM job_events").pluck();
    // A build lasts from the agent's lease to the result the same agent sent.
    this.finishedStatement = db.prepare(`SELECT e.id, e.status, (julianday(e.at) - julianday((SELECT l.at FROM job_events l
        WHERE l.job_id = e.job_id AND l.status = 'leased' AND l.id < e.id ORDER BY l.id DESC LIMIT 1))) * 86400 AS seconds
      FROM job_events e WHERE e.id > ? AND e.status IN ('succeeded', 'failed') AND e.agent IS NOT NULL ORDER BY e.id`);
    // Rewrites a row with its own value: a real write, so a read-only or full database fails it.
    this.probeStatement = db.prepare("UPDATE counters SET value = value WHERE name = 'serial'");
  }

  jobsByStatus(): Count[] {
    return this.jobsStatement.all() as Count[];
  }

  checksByStatus(): Count[] {
    return this.checksStatement.all() as Count[];
  }

  verdicts(): Verdicts[] {
    return this.verdictsStatement.all() as Verdicts[];
  }

  storedBytesByOrigin(): Count[] {
    return this.bytesStatement.all() as Count[];
  }

  agents(seenSince: string): { registered: number; online: number } {
    return this.agentsStatement.get(seenSince) as { registered: number; online: number };
  }

  lastJobEvent(): number {
    return this.lastEventStatement.get() as number;
  }

  /** Builds whose result arrived after the job event `afterId`, oldest first. */
  finishedBuilds(afterId: number): FinishedBuild[] {
    return (this.finishedStatement.all(afterId) as FinishedBuild[]).filter((build) => build.seconds !== null);
  }

  probeWrite(): void {
    this.db.transaction(() => this.probeStatement.run()).immediate();
  }
}
