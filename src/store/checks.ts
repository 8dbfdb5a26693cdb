import type { Db } from "./db.js";

export type CheckStatus = "pending" | "running" | "verified" | "failed";
export type CheckPurpose = "new" | "reverify" | "manual";
export type Verification = "pending" | "verified" | "failed";
/** Why a check failed: the artifact is broken, or a dependency has no fitting file on the index. */
export type FailureCause = "" | "broken" | "unresolvable";

/** One interpreter of the matrix: a Python version (`X.Y`) on a platform (its egg platform). */
export interface Slot {
  python: string;
  platform: string;
}

/** What the project's smoke check did on the interpreter: null when the project has none. */
export interface SmokeResult {
  ok: boolean;
  /** Why it failed (its last line of output), "" when it passed; the whole output is in the log. */
  output: string;
}

export interface CheckRow {
  id: number;
  fileId: number;
  filename: string;
  project: string;
  purpose: CheckPurpose;
  status: CheckStatus;
  node: string | null;
  interpreter: string | null;
  /** The matrix slot (null for a check not yet spread over the interpreters the file fits). */
  python: string | null;
  platform: string | null;
  /** On an interpreter the configuration no longer has: kept as history, no longer counted. */
  retired: boolean;
  /** Runs only with its node to itself: it flooded its output while others ran there. */
  alone: boolean;
  cause: FailureCause;
  /** For an unresolvable verdict: the project (normalized) of the requirement with no fitting file. */
  missingRequirement: string;
  smoke: SmokeResult | null;
  reason: string;
  log: string;
  /** `counted`: false for a compiled test module (core/compiled.ts isTestModule); absent from checks made before it existed. */
  modules: { name: string; ok: boolean; counted?: boolean; returncode: number | null; signal: number | string | null; output: string }[];
  missingLibraries: string[];
  degraded: boolean;
  durationMs: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface CheckVerdict {
  status: "verified" | "failed";
  cause: FailureCause;
  missingRequirement: string;
  smoke: SmokeResult | null;
  reason: string;
  log: string;
  modules: CheckRow["modules"];
  missingLibraries: string[];
  degraded: boolean;
  durationMs: number;
}

export interface NodeHealth {
  node: string;
  /** False after a failed contact, and while quarantined. */
  healthy: boolean;
  /** The quarantine's reason while there is one, else the last contact's error. */
  lastError: string;
  checkedAt: string;
}

const COLUMNS = `c.id, c.file_id AS fileId, f.filename, p.name AS project, c.purpose, c.status, c.node, c.interpreter, c.python, c.platform, c.retired, c.alone, c.cause, c.missing_requirement AS missingRequirement, c.smoke, c.reason, c.log,
  c.modules, c.missing_libraries AS missingLibraries, c.degraded, c.duration_ms AS durationMs, c.created_at AS createdAt,
  c.started_at AS startedAt, c.finished_at AS finishedAt
  FROM checks c JOIN files f ON f.id = c.file_id JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id`;

type RawCheck = Omit<CheckRow, "modules" | "missingLibraries" | "degraded" | "smoke" | "retired" | "alone"> & {
  modules: string;
  missingLibraries: string;
  degraded: number;
  smoke: string | null;
  retired: number;
  alone: number;
};

/** Checks (one row per attempt, kept as history), each file's current verification, node probes and health. */
export class CheckStore {
  private readonly uncheckedStatement;
  private readonly insertStatement;
  private readonly dueStatement;
  private readonly startStatement;
  private readonly credentialStatement;
  private readonly finishStatement;
  private readonly postponeStatement;
  private readonly runAloneStatement;
  private readonly setVerificationStatement;
  private readonly forFileStatement;
  private readonly byIdStatement;
  private readonly runningStatement;
  private readonly runningNowStatement;
  private readonly verifiedFilesStatement;
  private readonly awaitingStatement;
  private readonly insertForSlotStatement;
  private readonly probeStatement;
  private readonly saveProbeStatement;
  private readonly healthStatement;
  private readonly saveHealthStatement;
  private readonly quarantineStatement;
  private readonly quarantineOfStatement;
  private readonly releaseStatement;
  private readonly comparedStatement;
  private readonly verifiedSinceStatement;
  private readonly assignStatement;
  private readonly insertSlotStatement;
  private readonly retireStatement;
  private readonly dropRetiredStatement;

  constructor(db: Db) {
    this.uncheckedStatement = db.prepare(`SELECT f.id FROM files f WHERE f.kind != 'sdist' AND f.deleted_at IS NULL
      AND f.verification = 'pending' AND NOT EXISTS (SELECT 1 FROM checks c WHERE c.file_id = f.id AND c.status IN ('pending', 'running'))`).pluck();
    this.insertStatement = db.prepare("INSERT INTO checks (file_id, purpose, status, created_at) VALUES (?, ?, 'pending', ?) RETURNING id").pluck();
    // Without INDEXED BY the planner walks every check ever made in id order.
    this.dueStatement = db.prepare(`SELECT ${COLUMNS.replace("FROM checks c", "FROM checks c INDEXED BY checks_pending")}
      WHERE c.status = 'pending' AND c.retry_after <= ? AND f.deleted_at IS NULL ORDER BY c.id`);
    this.startStatement = db.prepare(`UPDATE checks SET status = 'running', node = ?, interpreter = ?, started_at = ?, reason = '',
      credential_hash = ? WHERE id = ? AND status = 'pending'`);
    this.credentialStatement = db.prepare("SELECT id FROM checks WHERE credential_hash = ? AND status = 'running'").pluck();
    this.finishStatement = db.prepare(`UPDATE checks SET status = @status, cause = @cause, missing_requirement = @missingRequirement, smoke = @smoke, reason = @reason, log = @log, modules = @modules,
      missing_libraries = @missingLibraries, degraded = @degraded, duration_ms = @durationMs, finished_at = @now WHERE id = @id`);
    this.postponeStatement = db.prepare(`UPDATE checks SET status = 'pending', reason = ?, node = ?, interpreter = NULL,
      retry_after = ? WHERE id = ?`);
    this.runAloneStatement = db.prepare("UPDATE checks SET alone = 1 WHERE id = ?");
    this.setVerificationStatement = db.prepare("UPDATE files SET verification = ?, degraded = (degraded OR ?) WHERE id = ?");
    this.forFileStatement = db.prepare(`SELECT ${COLUMNS} WHERE c.file_id = ? ORDER BY c.id DESC`);
    this.runningNowStatement = db.prepare(`SELECT ${COLUMNS} WHERE c.status = 'running' ORDER BY c.id`);
    this.byIdStatement = db.prepare(`SELECT ${COLUMNS} WHERE c.id = ?`);
    this.runningStatement = db.prepare("UPDATE checks SET status = 'pending', node = NULL, interpreter = NULL WHERE status = 'running'");
    this.verifiedFilesStatement = db.prepare("SELECT id FROM files WHERE verification = 'verified' AND deleted_at IS NULL AND kind != 'sdist'").pluck();
    // The newest check of each interpreter of a file, when it found no file of the file's project.
    this.awaitingStatement = db.prepare(`SELECT c.file_id AS fileId, c.python, c.platform FROM checks c INDEXED BY checks_unresolvable
      JOIN files f ON f.id = c.file_id
      WHERE c.missing_requirement = (SELECT p2.name FROM files f2 JOIN releases r2 ON r2.id = f2.release_id JOIN projects p2 ON p2.id = r2.project_id WHERE f2.id = ?)
      AND c.cause = 'unresolvable' AND c.retired = 0 AND f.deleted_at IS NULL
      AND c.id = (SELECT MAX(c2.id) FROM checks c2 WHERE c2.file_id = c.file_id AND c2.python = c.python AND c2.platform = c.platform) ORDER BY c.id`);
    this.insertForSlotStatement = db.prepare(`INSERT INTO checks (file_id, purpose, status, created_at, python, platform)
      VALUES (?, ?, 'pending', ?, ?, ?) RETURNING id`).pluck();
    this.probeStatement = db.prepare("SELECT path, probe FROM node_interpreters WHERE node = ?");
    this.saveProbeStatement = db.prepare(`INSERT INTO node_interpreters (node, path, probe, probed_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (node, path) DO UPDATE SET probe = excluded.probe, probed_at = excluded.probed_at`);
    this.healthStatement = db.prepare(`SELECT node, healthy AND quarantine = '' AS healthy,
      CASE WHEN quarantine = '' THEN last_error ELSE quarantine END AS lastError, checked_at AS checkedAt FROM node_health ORDER BY node`);
    this.saveHealthStatement = db.prepare(`INSERT INTO node_health (node, healthy, last_error, checked_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (node) DO UPDATE SET healthy = excluded.healthy, last_error = excluded.last_error, checked_at = excluded.checked_at`);
    this.quarantineStatement = db.prepare(`INSERT INTO node_health (node, healthy, last_error, checked_at, quarantine) VALUES (@node, 0, @reason, @now, @reason)
      ON CONFLICT (node) DO UPDATE SET healthy = 0, quarantine = excluded.quarantine, last_error = excluded.last_error, checked_at = excluded.checked_at`);
    this.quarantineOfStatement = db.prepare("SELECT quarantine FROM node_health WHERE node = ?").pluck();
    this.releaseStatement = db.prepare("UPDATE node_health SET quarantine = '' WHERE node = ?");
    this.comparedStatement = db.prepare(`UPDATE node_interpreters SET good_comparison_at = MAX(COALESCE(good_comparison_at, ''), @at)
      WHERE node = @node AND path = @interpreter`);
    // With no good comparison recorded, every verdict of the node is in doubt.
    this.verifiedSinceStatement = db.prepare(`SELECT DISTINCT f.id AS fileId, f.filename, p.name AS project
      FROM checks c JOIN files f ON f.id = c.file_id JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id
      WHERE c.node = @node AND c.status = 'verified' AND f.verification = 'verified' AND f.deleted_at IS NULL
      AND c.finished_at >= COALESCE((SELECT good_comparison_at FROM node_interpreters WHERE node = @node AND path = @interpreter), '')`);
    this.assignStatement = db.prepare("UPDATE checks SET python = ?, platform = ? WHERE id = ? AND python IS NULL");
    this.insertSlotStatement = db.prepare(`INSERT INTO checks (file_id, purpose, status, created_at, python, platform)
      SELECT file_id, purpose, 'pending', ?, ?, ? FROM checks WHERE id = ? RETURNING id`).pluck();
    const otherSlots = `file_id = (SELECT file_id FROM checks WHERE id = @checkId) AND python IS NOT NULL
      AND python || ' ' || platform NOT IN (SELECT value FROM json_each(@slots))`;
    this.retireStatement = db.prepare(`UPDATE checks SET retired = 1 WHERE ${otherSlots} AND status IN ('verified', 'failed')`);
    // A check that never ran on an interpreter no node has any more would wait for ever.
    this.dropRetiredStatement = db.prepare(`DELETE FROM checks WHERE ${otherSlots} AND status = 'pending'`);
  }

  /**
   * Spread a check not yet assigned to an interpreter over `slots` (in order of preference): a
   * check with the same file and purpose is queued for each other slot. The check itself takes
   * the last slot and the new ones go in reverse, so the newest check of the file (the first a
   * newest-first list shows) is on the preferred interpreter. When `slots` are known to be all the
   * file fits (every node said what it runs), the file's checks on any other interpreter (one the
   * configuration dropped) are retired, or dropped if they never ran. False when another process
   * spread it first (run inside a transaction, so nothing is queued twice).
   */
  spread(checkId: number, slots: readonly Slot[], complete: boolean, now: string): boolean {
    const last = slots.at(-1)!;
    if (this.assignStatement.run(last.python, last.platform, checkId).changes !== 1) return false;
    for (const slot of slots.slice(0, -1).reverse()) this.insertSlotStatement.get(now, slot.python, slot.platform, checkId);
    if (!complete) return true;
    const current = { checkId, slots: JSON.stringify(slots.map((slot) => `${slot.python} ${slot.platform}`)) };
    this.retireStatement.run(current);
    this.dropRetiredStatement.run(current);
    return true;
  }

  /** Eggs and wheels with no verdict yet and no check waiting. */
  unchecked(): number[] {
    return this.uncheckedStatement.all() as number[];
  }

  insert(fileId: number, purpose: CheckPurpose, now: string): number {
    return this.insertStatement.get(fileId, purpose, now) as number;
  }

  due(nowMs: number): CheckRow[] {
    return (this.dueStatement.all(nowMs) as RawCheck[]).map(fromRaw);
  }

  /** Claim a pending check for a node, with the hash of its run's credential; false when another runner took it first. */
  start(checkId: number, node: string, interpreter: string, credentialHash: string, now: string): boolean {
    return this.startStatement.run(node, interpreter, now, credentialHash, checkId).changes === 1;
  }

  /** The running check whose credential has this hash: none once the check has left `running`. */
  runningWithCredential(credentialHash: string): number | undefined {
    return this.credentialStatement.get(credentialHash) as number | undefined;
  }

  finish(checkId: number, verdict: CheckVerdict, now: string): void {
    this.finishStatement.run({
      id: checkId,
      ...verdict,
      modules: JSON.stringify(verdict.modules),
      missingLibraries: JSON.stringify(verdict.missingLibraries),
      degraded: verdict.degraded ? 1 : 0,
      smoke: verdict.smoke === null ? null : JSON.stringify(verdict.smoke),
      now,
    });
  }

  /** Back to pending after a node problem, not to be retried before `retryAfterMs`. */
  postpone(checkId: number, reason: string, node: string | null, retryAfterMs: number): void {
    this.postponeStatement.run(reason, node, retryAfterMs, checkId);
  }

  /** From now on the check runs only with its node to itself. */
  runAlone(checkId: number): void {
    this.runAloneStatement.run(checkId);
  }

  setVerification(fileId: number, verification: Verification, degraded: boolean): void {
    this.setVerificationStatement.run(verification, degraded ? 1 : 0, fileId);
  }

  forFile(fileId: number): CheckRow[] {
    return (this.forFileStatement.all(fileId) as RawCheck[]).map(fromRaw);
  }

  /** The checks running on nodes now. */
  running(): CheckRow[] {
    return (this.runningNowStatement.all() as RawCheck[]).map(fromRaw);
  }

  byId(checkId: number): CheckRow | undefined {
    const raw = this.byIdStatement.get(checkId) as RawCheck | undefined;
    return raw && fromRaw(raw);
  }

  /** Checks a stopped process left running go back to the queue (start-up repair). */
  requeueRunning(): void {
    this.runningStatement.run();
  }

  verifiedFiles(): number[] {
    return this.verifiedFilesStatement.all() as number[];
  }

  /** Interpreters of files whose newest verdict there is unresolvable for want of a file of `fileId`'s project. */
  awaitingProjectOf(fileId: number): ({ fileId: number } & Slot)[] {
    return this.awaitingStatement.all(fileId) as ({ fileId: number } & Slot)[];
  }

  /** Queue a check of a file on one interpreter of its matrix. */
  insertForSlot(fileId: number, purpose: CheckPurpose, slot: Slot, now: string): number {
    return this.insertForSlotStatement.get(fileId, purpose, now, slot.python, slot.platform) as number;
  }

  probes(node: string): { path: string; probe: string }[] {
    return this.probeStatement.all(node) as { path: string; probe: string }[];
  }

  saveProbe(node: string, interpreter: string, probe: string, now: string): void {
    this.saveProbeStatement.run(node, interpreter, probe, now);
  }

  health(): NodeHealth[] {
    return (this.healthStatement.all() as (Omit<NodeHealth, "healthy"> & { healthy: number })[]).map((row) => ({ ...row, healthy: row.healthy === 1 }));
  }

  saveHealth(node: string, healthy: boolean, lastError: string, now: string): void {
    this.saveHealthStatement.run(node, healthy ? 1 : 0, lastError, now);
  }

  /** No check runs on the node until release(): its interpreters are not what the probe saw. */
  quarantine(node: string, reason: string, now: string): void {
    this.quarantineStatement.run({ node, reason, now });
  }

  /** The quarantine's reason, or "" when the node may run checks. */
  quarantineOf(node: string): string {
    return (this.quarantineOfStatement.get(node) as string | undefined) ?? "";
  }

  release(node: string): void {
    this.releaseStatement.run(node);
  }

  /** A check that started at `at` found the node's interpreter as probed. */
  comparedGood(node: string, interpreter: string, at: string): void {
    this.comparedStatement.run({ node, interpreter, at });
  }

  /**
   * Verified files whose verifying check on the node (on any of its interpreters: one check can
   * write another's files) finished after the last check that found `interpreter` as probed.
   */
  verifiedSinceGoodComparison(node: string, interpreter: string): { fileId: number; filename: string; project: string }[] {
    return this.verifiedSinceStatement.all({ node, interpreter }) as { fileId: number; filename: string; project: string }[];
  }
}

function fromRaw(raw: RawCheck): CheckRow {
  return {
    ...raw,
    modules: JSON.parse(raw.modules),
    missingLibraries: JSON.parse(raw.missingLibraries),
    degraded: raw.degraded === 1,
    retired: raw.retired === 1,
    alone: raw.alone === 1,
    smoke: raw.smoke === null ? null : JSON.parse(raw.smoke),
  };
}
