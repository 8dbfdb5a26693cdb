// The two statements every lease runs, looked at directly on the bench's database: their query
// plans (read from JobStore's prepared statements) and their cost in SQL alone, measured inside
// transactions that are rolled back (nothing changes, nothing is synced). Bench only: the
// statements are private to the store.
import type { Statement } from "better-sqlite3";
import type { Services } from "../../src/app.js";

type PrivateStatements = { claimStatement: Statement; expireStatement: Statement };

function statements(services: Services): PrivateStatements {
  return services.stores.jobs as unknown as PrivateStatements;
}

/** EXPLAIN QUERY PLAN of the claim (`UPDATE … RETURNING` with its subquery) and of the expiry, as indented trees. */
export function leaseQueryPlans(services: Services): { claim: string[]; expire: string[] } {
  const { claimStatement, expireStatement } = statements(services);
  return {
    claim: queryPlan(services, claimStatement.source, { agentId: 1, expiresAt: 0, now: "" }),
    expire: queryPlan(services, expireStatement.source, { nowMs: 0, maxAttempts: 3, now: "" }),
  };
}

function queryPlan(services: Services, sql: string, parameters: object): string[] {
  const rows = services.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(parameters) as { id: number; parent: number; detail: string }[];
  const depth = new Map<number, number>([[0, -1]]);
  return rows.map((row) => {
    depth.set(row.id, (depth.get(row.parent) ?? -1) + 1);
    return `${"  ".repeat(depth.get(row.id)!)}${row.detail}`;
  });
}

/** Does every step that reads jobs search an index (or the primary key), never scan? And which indexes. */
export function jobsIndexes(plan: string[]): { indexed: boolean; indexes: string[] } {
  const jobsSteps = plan.filter((line) => /\b(SEARCH|SCAN) (j|jobs)\b/.test(line));
  return {
    indexed: jobsSteps.length > 0 && jobsSteps.every((line) => /SEARCH (j|jobs) USING (COVERING )?(INDEX|INTEGER PRIMARY KEY)/.test(line)),
    indexes: jobsSteps.map((line) => /INDEX (\w+)/.exec(line)?.[1]).filter((name) => name !== undefined),
  };
}

/** Microseconds per claim by `agentName`, 1,000 claims in a row. */
export function claimCost(services: Services, agentName: string): number {
  const agentId = services.stores.agents.byName(agentName)!.id;
  return rolledBack(services, () => timed(1000, () => services.stores.jobs.claim(benchLease(agentId))));
}

/** Microseconds per expiry pass (nothing due) while `held` jobs are leased. */
export function expireCost(services: Services, agentName: string, held: number): number {
  const agentId = services.stores.agents.byName(agentName)!.id;
  return rolledBack(services, () => {
    for (let index = 0; index < held; index++) services.stores.jobs.claim(benchLease(agentId));
    return timed(200, () => services.stores.jobs.expire(Date.now(), 3, new Date().toISOString()));
  });
}

function benchLease(agentId: number) {
  return { agentId, expiresAt: Date.now() + 60_000, now: new Date().toISOString(), leaseSecretHash: "bench", buildTokenHash: `bench-${Math.random()}` };
}

function timed(count: number, work: () => unknown): number {
  const started = performance.now();
  for (let index = 0; index < count; index++) work();
  return ((performance.now() - started) * 1000) / count;
}

function rolledBack<T>(services: Services, work: () => T): T {
  services.db.exec("BEGIN");
  try {
    return work();
  } finally {
    services.db.exec("ROLLBACK");
  }
}

/** What the database says afterwards (a read-only check): how many jobs were leased once, more than once, or still wait. */
export function jobCounts(services: Services): { queued: number; leasedOnce: number; leasedTwice: number } {
  const count = (sql: string) => services.db.prepare(sql).pluck().get() as number;
  return {
    queued: count("SELECT count(*) FROM jobs WHERE status = 'queued'"),
    leasedOnce: count("SELECT count(*) FROM jobs WHERE attempts = 1"),
    leasedTwice: count("SELECT count(*) FROM jobs WHERE attempts > 1"),
  };
}
