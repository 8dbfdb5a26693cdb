import type { LogLine as SentLogLine } from "../core/farm.js";
import type { JobFilter } from "../core/parameters.js";
import type { JobStatus } from "../core/types.js";
import type { Db } from "./db.js";

export type { JobFilter, JobStatus };

export interface JobRow {
  id: number;
  sdistId: number;
  project: string;
  version: string;
  sdistFilename: string;
  sdistSha256: string;
  requiresPython: string | null;
  targetKey: string;
  status: JobStatus;
  attempts: number;
  agent: string | null;
  leaseExpiresAt: number | null;
  reason: string;
  createdAt: string;
  updatedAt: string;
}

/** An sdist to plan jobs for. */
export interface BuildCandidate {
  sdistId: number;
  projectId: number;
  version: string;
  requiresPython: string | null;
  uploadedAt: string;
}

/** A stored line: the line as sent, and its place in the job's log. */
export interface LogLine extends SentLogLine {
  id: number;
}

export interface JobEvent {
  at: string;
  status: string;
  agent: string | null;
  detail: string;
}

const COLUMNS = `j.id, j.sdist_id AS sdistId, p.name AS project, r.version, f.filename AS sdistFilename, f.sha256 AS sdistSha256,
  f.requires_python AS requiresPython, j.target_key AS targetKey, j.status, j.attempts, a.name AS agent,
  j.lease_expires_at AS leaseExpiresAt, j.reason, j.created_at AS createdAt, j.updated_at AS updatedAt
  FROM jobs j JOIN files f ON f.id = j.sdist_id JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id
  LEFT JOIN agents a ON a.id = j.agent_id`;

/** Build jobs, their leases, logs and state history. Leases live here, never only in memory. */
export class JobStore {
  private readonly sdistsBetweenStatement;
  private readonly releaseSdistsStatement;
  private readonly plannedTargetsStatement;
  private readonly lastFileIdStatement;
  private readonly insertStatement;
  private readonly claimStatement;
  private readonly expireStatement;
  private readonly renewAllStatement;
  private readonly extendStatement;
  private readonly finishStatement;
  private readonly setStatusStatement;
  private readonly byIdStatement;
  private readonly listStatement;
  private readonly forReleaseStatement;
  private readonly appendLogStatement;
  private readonly addLogCharsStatement;
  private readonly logCharsStatement;
  private readonly logStatement;
  private readonly logPageStatement;
  private readonly eventStatement;
  private readonly eventsStatement;
  private readonly sdistVersionsStatement;
  private readonly queuedForSdistStatement;
  private readonly leaseSecretStatement;
  private readonly buildTokenJobStatement;
  private readonly releaseAgentStatement;

  constructor(db: Db) {
    this.sdistsBetweenStatement = db.prepare(`SELECT f.id AS sdistId, r.project_id AS projectId, r.version,
      f.requires_python AS requiresPython, f.uploaded_at AS uploadedAt
      FROM files f JOIN releases r ON r.id = f.release_id
      WHERE f.id > ? AND f.id <= ? AND f.kind = 'sdist' AND f.deleted_at IS NULL ORDER BY f.id LIMIT ?`);
    this.releaseSdistsStatement = db.prepare(`SELECT f.id AS sdistId, r.project_id AS projectId, r.version,
      f.requires_python AS requiresPython, f.uploaded_at AS uploadedAt
      FROM releases r JOIN files f ON f.release_id = r.id
      WHERE r.project_id = ? AND r.version = ? AND f.kind = 'sdist' AND f.deleted_at IS NULL ORDER BY f.id`);
    this.plannedTargetsStatement = db.prepare("SELECT target_key FROM jobs WHERE sdist_id = ?").pluck();
    this.lastFileIdStatement = db.prepare("SELECT coalesce(max(id), 0) FROM files").pluck();
    this.insertStatement = db.prepare(`INSERT INTO jobs (sdist_id, target_key, status, reason, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sdist_id, target_key) DO NOTHING RETURNING id`).pluck();
    // An agent holds at most as many leases as it declared slots: the count is part of the claim itself.
    this.claimStatement = db.prepare(`UPDATE jobs SET status = 'leased', agent_id = @agentId, attempts = attempts + 1,
      lease_expires_at = @expiresAt, updated_at = @now, lease_secret_hash = @leaseSecretHash, build_token_hash = @buildTokenHash
      WHERE id = (SELECT min((SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.target_key = t.target_key ORDER BY j.id LIMIT 1))
                  FROM agent_targets t WHERE t.agent_id = @agentId)
        AND (SELECT count(*) FROM jobs h INDEXED BY jobs_by_agent WHERE h.agent_id = @agentId AND h.status = 'leased')
          < (SELECT slots FROM agents WHERE id = @agentId)
      RETURNING id`).pluck();
    // Without INDEXED BY the planner reads every leased job through jobs_by_status.
    this.expireStatement = db.prepare(`UPDATE jobs INDEXED BY jobs_leases SET
        status = CASE WHEN attempts >= @maxAttempts THEN 'failed' ELSE 'queued' END,
        reason = CASE WHEN attempts >= @maxAttempts THEN 'lease expired ' || attempts || ' times: the agents building it stopped answering' ELSE reason END,
        agent_id = NULL, lease_expires_at = NULL, lease_secret_hash = NULL, build_token_hash = NULL, updated_at = @now
      WHERE status = 'leased' AND lease_expires_at < @nowMs RETURNING id, status, reason`);
    this.renewAllStatement = db.prepare("UPDATE jobs SET lease_expires_at = MAX(lease_expires_at, ?) WHERE status = 'leased'");
    this.extendStatement = db.prepare(
      "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND agent_id = ? AND status = 'leased'",
    );
    this.finishStatement = db.prepare(`UPDATE jobs SET status = ?, reason = ?, lease_expires_at = NULL, updated_at = ?,
      lease_secret_hash = NULL, build_token_hash = NULL
      WHERE id = ? AND agent_id = ? AND status = 'leased' AND lease_secret_hash = ?`);
    this.setStatusStatement = db.prepare(`UPDATE jobs SET status = ?, reason = ?, agent_id = NULL, lease_expires_at = NULL,
      lease_secret_hash = NULL, build_token_hash = NULL,
      attempts = CASE WHEN ? = 'queued' THEN 0 ELSE attempts END, updated_at = ? WHERE id = ?`);
    this.byIdStatement = db.prepare(`SELECT ${COLUMNS} WHERE j.id = ?`);
    this.listStatement = db.prepare(`SELECT ${COLUMNS}
      WHERE (@project IS NULL OR p.name = @project) AND (@status IS NULL OR j.status = @status) AND (@target IS NULL OR j.target_key = @target)
        AND (@readable IS NULL OR p.id IN (SELECT value FROM json_each(@readable)))
      ORDER BY j.id DESC LIMIT 500`);
    this.forReleaseStatement = db.prepare(`SELECT ${COLUMNS} WHERE j.sdist_id IN
      (SELECT f2.id FROM files f2 JOIN releases r2 ON r2.id = f2.release_id WHERE r2.project_id = ? AND r2.version = ? AND f2.kind = 'sdist' AND f2.deleted_at IS NULL)`);
    this.appendLogStatement = db.prepare("INSERT INTO job_log (job_id, at, stream, text) VALUES (?, ?, ?, ?)");
    this.addLogCharsStatement = db.prepare("UPDATE jobs SET log_chars = log_chars + ? WHERE id = ?");
    this.logCharsStatement = db.prepare("SELECT log_chars FROM jobs WHERE id = ?").pluck();
    this.logStatement = db.prepare("SELECT id, at, stream, text FROM job_log WHERE job_id = ? AND id > ? ORDER BY id");
    this.logPageStatement = db.prepare("SELECT id, at, stream, text FROM job_log WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?");
    this.eventStatement = db.prepare("INSERT INTO job_events (job_id, at, status, agent, detail) VALUES (?, ?, ?, ?, ?)");
    this.eventsStatement = db.prepare("SELECT at, status, agent, detail FROM job_events WHERE job_id = ? ORDER BY id");
    this.sdistVersionsStatement = db.prepare(`SELECT DISTINCT r.version FROM releases r JOIN files f ON f.release_id = r.id
      WHERE r.project_id = ? AND f.kind = 'sdist' AND f.deleted_at IS NULL`).pluck();
    this.queuedForSdistStatement = db.prepare("SELECT id, target_key AS targetKey FROM jobs WHERE sdist_id = ? AND status = 'queued'");
    this.leaseSecretStatement = db.prepare("SELECT lease_secret_hash FROM jobs WHERE id = ? AND agent_id = ? AND status = 'leased'").pluck();
    this.buildTokenJobStatement = db.prepare("SELECT id FROM jobs WHERE build_token_hash = ? AND status = 'leased'").pluck();
    // As expireStatement: the attempt counts, or a build that crashes its agent would be leased for ever.
    this.releaseAgentStatement = db.prepare(`UPDATE jobs INDEXED BY jobs_by_agent SET
        status = CASE WHEN attempts >= @maxAttempts THEN 'failed' ELSE 'queued' END,
        reason = CASE WHEN attempts >= @maxAttempts THEN 'its agent started again during attempt ' || attempts || ' of ' || CAST(@maxAttempts AS INTEGER) ||
          ' (the agent crashed or was stopped mid-build): not leased again' ELSE reason END,
        agent_id = NULL, lease_expires_at = NULL, lease_secret_hash = NULL, build_token_hash = NULL, updated_at = @now
      WHERE agent_id = @agentId AND status = 'leased' RETURNING id, status, reason`);
  }

  /** The versions of a project with a live sdist: the backfill rule needs the project's latest. */
  sdistVersions(projectId: number): string[] {
    return this.sdistVersionsStatement.all(projectId) as string[];
  }

  queuedForSdist(sdistId: number): { id: number; targetKey: string }[] {
    return this.queuedForSdistStatement.all(sdistId) as { id: number; targetKey: string }[];
  }

  /** Live sdists with ids in (afterId, upToId], oldest first, at most `limit` (a primary-key range). */
  sdistsBetween(afterId: number, upToId: number, limit: number): BuildCandidate[] {
    return this.sdistsBetweenStatement.all(afterId, upToId, limit) as BuildCandidate[];
  }

  /** The live sdists of one release. */
  releaseSdists(projectId: number, version: string): BuildCandidate[] {
    return this.releaseSdistsStatement.all(projectId, version) as BuildCandidate[];
  }

  /** The targets an sdist has a job for already. */
  plannedTargets(sdistId: number): string[] {
    return this.plannedTargetsStatement.all(sdistId) as string[];
  }

  /** The newest file id: where the next planning pass ends. */
  lastFileId(): number {
    return this.lastFileIdStatement.get() as number;
  }

  insert(sdistId: number, targetKey: string, status: JobStatus, reason: string, now: string): number | undefined {
    return this.insertStatement.get(sdistId, targetKey, status, reason, now, now) as number | undefined;
  }

  /**
   * Lease the oldest queued job among the agent's targets (per target the first of the jobs_queue
   * index, then the oldest of those), unless every slot of the agent already holds one.
   */
  claim(lease: { agentId: number; expiresAt: number; now: string; leaseSecretHash: string; buildTokenHash: string }): number | undefined {
    return this.claimStatement.get(lease) as number | undefined;
  }

  /** The hashed secret of the agent's current lease of the job; undefined when it holds none. */
  leaseSecretHash(jobId: number, agentId: number): string | undefined {
    return (this.leaseSecretStatement.get(jobId, agentId) as string | null | undefined) ?? undefined;
  }

  /** The leased job a build credential belongs to. */
  jobOfBuildToken(buildTokenHash: string): number | undefined {
    return this.buildTokenJobStatement.get(buildTokenHash) as number | undefined;
  }

  /** Every lease the agent holds back to the queue (it started again: those builds are gone), or failed once out of attempts. */
  releaseAgent(agentId: number, maxAttempts: number, now: string): { id: number; status: JobStatus; reason: string }[] {
    return this.releaseAgentStatement.all({ agentId, maxAttempts, now }) as { id: number; status: JobStatus; reason: string }[];
  }

  /** Return expired leases to the queue, or fail them once out of attempts. */
  expire(nowMs: number, maxAttempts: number, now: string): { id: number; status: JobStatus; reason: string }[] {
    return this.expireStatement.all({ nowMs, maxAttempts, now }) as { id: number; status: JobStatus; reason: string }[];
  }

  /** Every lease held ends no sooner than `expiresAt`. */
  renewAll(expiresAt: number): void {
    this.renewAllStatement.run(expiresAt);
  }

  extend(jobId: number, agentId: number, expiresAt: number): boolean {
    return this.extendStatement.run(expiresAt, jobId, agentId).changes === 1;
  }

  /** Settle a job the agent still holds under this lease; false when it no longer does. */
  finish(jobId: number, agentId: number, leaseSecretHash: string, status: JobStatus, reason: string, now: string): boolean {
    return this.finishStatement.run(status, reason, now, jobId, agentId, leaseSecretHash).changes === 1;
  }

  setStatus(jobId: number, status: JobStatus, reason: string, now: string): void {
    this.setStatusStatement.run(status, reason, status, now, jobId);
  }

  byId(jobId: number): JobRow | undefined {
    return this.byIdStatement.get(jobId) as JobRow | undefined;
  }

  /** The newest 500 jobs that match, of the `readable` projects only (all when "all"). */
  list(filter: JobFilter, readable: number[] | "all"): JobRow[] {
    return this.listStatement.all({
      project: filter.project ?? null,
      status: filter.status ?? null,
      target: filter.target ?? null,
      readable: readable === "all" ? null : JSON.stringify(readable),
    }) as JobRow[];
  }

  /** The jobs of a release's live sdists (through the index of live files: one release, not every file). */
  forRelease(projectId: number, version: string): JobRow[] {
    return this.forReleaseStatement.all(projectId, version) as JobRow[];
  }

  /** `counted`: what the lines cost the log's budget (services/jobs.ts decides). */
  appendLog(jobId: number, lines: SentLogLine[], counted: number): void {
    for (const line of lines) this.appendLogStatement.run(jobId, line.at, line.stream, line.text);
    this.addLogCharsStatement.run(counted, jobId);
  }

  /** How much of its budget the job's log has used (services/jobs.ts counts it). */
  logChars(jobId: number): number {
    return (this.logCharsStatement.get(jobId) as number | undefined) ?? 0;
  }

  log(jobId: number, afterId = 0): LogLine[] {
    return this.logStatement.all(jobId, afterId) as LogLine[];
  }

  /** The whole log, one row at a time: for a pass over it that keeps none of it. */
  eachLogLine(jobId: number): IterableIterator<LogLine> {
    return this.logStatement.iterate(jobId, 0) as IterableIterator<LogLine>;
  }

  /** At most `limit` log lines after `afterId`: what a live follower reads per step. */
  logPage(jobId: number, afterId: number, limit: number): LogLine[] {
    return this.logPageStatement.all(jobId, afterId, limit) as LogLine[];
  }

  recordEvent(jobId: number, at: string, status: string, agent: string | null, detail: string): void {
    this.eventStatement.run(jobId, at, status, agent, detail);
  }

  events(jobId: number): JobEvent[] {
    return this.eventsStatement.all(jobId) as JobEvent[];
  }
}
