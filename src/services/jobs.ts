import { createHash } from "node:crypto";
import { AppError, badRequest, conflict, forbidden, notFound, unauthorized } from "../core/errors.js";
import { LINE_OVERHEAD, MAX_LOG_LINE_CHARS, lineCost, type LogLine } from "../core/farm.js";
import { distributionSlot, parseFilename, type ArtifactName } from "../core/filenames.js";
import { fits } from "../core/tags.js";
import type { JobId, NormalizedName, Version } from "../core/types.js";
import type { AgentStore, TargetRow } from "../store/agents.js";
import type { Staged } from "../store/blobs.js";
import { tx, type Db } from "../store/db.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { JobFilter, JobRow, JobStore, JobStatus } from "../store/jobs.js";
import type { ProjectRow, ProjectStore } from "../store/projects.js";
import type { WakeUps } from "../store/wakeups.js";
import type { Access, Principal } from "./access.js";
import type { Ingest, IngestRequest } from "./ingest.js";
import type { Planning } from "./planning.js";
import { hashSecret, newSecret } from "./secrets.js";

export type AgentPrincipal = { kind: "agent"; agentId: number; name: string };

export interface FarmSettings {
  lease_seconds: number;
  max_attempts: number;
  build_timeout_seconds: number;
  /**
   * What one job's log may hold: every line is stored, shown and read back whole (to tell a
   * degraded build), so a build that prints for ever must not fill the server's disk or memory.
   */
  max_log_mib: number;
}

const BUILD_TOKEN_PREFIX = "pydepot-build-";
const LEASE_SECRET_PREFIX = "pydepot-lease-";

export function isBuildToken(secret: string): boolean {
  return secret.startsWith(BUILD_TOKEN_PREFIX);
}

/** What an agent needs to build one job. */
export interface LeasedJob {
  id: number;
  project: string;
  version: string;
  sdist: { filename: string; path: string; sha256: string };
  target: TargetRow;
  timeoutSeconds: number;
  leaseSeconds: number;
  /** Proves to the server that a log or result comes from the process that took this lease. */
  leaseSecret: string;
  /** Read-only index access for the build's own tools (pip, setuptools), for this lease only. */
  buildToken: string;
}

export interface BuiltFile {
  filename: string;
  staged: Staged;
  linkedLibraries: string[];
}

/** Longest a waiting lease sleeps before re-checking expired leases. */
const RECHECK_MS = 2_000;

/**
 * The build queue (planned by planning.ts): lease it to one agent at a time, expire dead leases,
 * accept results (→ ingest). Every state lives in SQLite.
 */
export class Jobs {
  constructor(
    private readonly db: Db,
    private readonly store: JobStore,
    private readonly agents: AgentStore,
    private readonly files: FileStore,
    private readonly projects: ProjectStore,
    private readonly ingest: Ingest,
    private readonly planning: Planning,
    private readonly wakeUps: WakeUps,
    /** Rung at every change of a job's state or log, for live followers (services/job-stream.ts). */
    private readonly jobChanges: WakeUps,
    private readonly settings: FarmSettings,
    private readonly now: () => string,
    private readonly access: Access,
  ) {}

  async lease(agent: AgentPrincipal, waitMs: number, clientGone?: AbortSignal): Promise<LeasedJob | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      // A job leased to an agent that hung up would sit unbuilt until its lease expired, and cost an attempt.
      if (clientGone?.aborted) return null;
      this.planning.planIfStale();
      this.expireLeases();
      const leaseSecret = newSecret(LEASE_SECRET_PREFIX);
      const buildToken = newSecret(BUILD_TOKEN_PREFIX);
      const jobId = tx(this.db, () => {
        const id = this.store.claim({
          agentId: agent.agentId,
          expiresAt: Date.now() + this.settings.lease_seconds * 1000,
          now: this.now(),
          leaseSecretHash: hashSecret(leaseSecret),
          buildTokenHash: hashSecret(buildToken),
        });
        if (id !== undefined) this.store.recordEvent(id, this.now(), "leased", agent.name, "");
        return id;
      });
      if (jobId !== undefined) {
        this.jobChanges.notify();
        return { ...this.describe(jobId), leaseSecret, buildToken };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      await this.wakeUps.wait(Math.min(remaining, RECHECK_MS), clientGone);
    }
  }

  /**
   * At start-up: a server that was down heard no heartbeat, so every lease held gets a whole
   * lease from now. A restart (an upgrade) then costs no build under way; an agent that died
   * meanwhile is noticed one lease later, as always.
   */
  resumeLeases(): void {
    this.store.renewAll(Date.now() + this.settings.lease_seconds * 1000);
  }

  expireLeases(): void {
    const expired = tx(this.db, () => {
      const rows = this.store.expire(Date.now(), this.settings.max_attempts, this.now());
      for (const row of rows) this.store.recordEvent(row.id, this.now(), row.status, null, row.status === "failed" ? row.reason : "lease expired");
      return rows;
    });
    if (expired.length > 0) this.jobChanges.notify();
    if (expired.some((row) => row.status === "queued")) this.wakeUps.notify();
  }

  /**
   * The principal a build credential stands for: read access while its job's lease is held, and
   * nothing else (it can never lease, log, report or upload).
   */
  authenticateBuild(token: string): Principal {
    const jobId = this.store.jobOfBuildToken(hashSecret(token));
    if (jobId === undefined) throw unauthorized("Unknown or expired build credential: it is valid only while its build job runs");
    const sdist = this.files.byFilename(this.store.byId(jobId)!.sdistFilename)!;
    return { kind: "build", jobId, name: `build:job-${jobId}`, readsAs: this.access.uploaderOf(sdist.uploader) };
  }

  /**
   * The agent holds the job's current lease and proves it with that lease's secret: an agent's
   * token alone (which a build might have stolen) answers no job. Checked before a result's
   * first byte is stored.
   */
  proveLease(agent: AgentPrincipal, jobId: number, leaseSecret: string | undefined): void {
    const expected = this.store.leaseSecretHash(jobId, agent.agentId);
    if (expected === undefined) {
      if (!this.store.byId(jobId)) throw notFound(`No job ${jobId}`);
      throw this.notHeld(jobId);
    }
    if (!leaseSecret) throw forbidden(`Job ${jobId} needs its lease secret (X-Pydepot-Lease-Secret): only the agent process that leased it may report on it`);
    if (hashSecret(leaseSecret) !== expected) throw forbidden(`Wrong lease secret for job ${jobId}: only the agent process that leased it may report on it`);
  }

  /** Build output; also the heartbeat that keeps the lease. Refused once the job is no longer the agent's. */
  appendLog(agent: AgentPrincipal, jobId: number, leaseSecret: string | undefined, lines: LogLine[]): void {
    tx(this.db, () => {
      this.proveLease(agent, jobId, leaseSecret);
      if (!this.store.extend(jobId, agent.agentId, Date.now() + this.settings.lease_seconds * 1000)) throw this.notHeld(jobId);
      const budget = this.settings.max_log_mib * 1024 * 1024;
      const { kept, charged } = withinBudget(lines, this.store.logChars(jobId), budget);
      this.store.appendLog(jobId, kept, charged);
    });
    this.jobChanges.notify();
  }

  async acceptResult(
    agent: AgentPrincipal,
    jobId: number,
    leaseSecret: string | undefined,
    outcome: { status: string; reason: string },
    built: BuiltFile[],
  ): Promise<JobRow> {
    this.proveLease(agent, jobId, leaseSecret);
    const job = this.store.byId(jobId)!;
    const lease = { agent, secretHash: hashSecret(leaseSecret!) };
    if (outcome.status === "failed") return this.settle(lease, job, "failed", outcome.reason || "build failed");
    if (outcome.status !== "succeeded") throw badRequest(`Unknown result status ${JSON.stringify(outcome.status)}: use succeeded or failed`);
    if (built.length === 0) throw badRequest("A succeeded build must upload at least one file");
    const filenames = built.map((file) => file.filename).join(", ");
    try {
      const target = this.agents.target(job.targetKey)!;
      const names = new Map(built.map((file) => [file, this.checkBelongs(job, target, file.filename)]));
      const requests = this.ingestRequests(agent, job, target, built.filter((file) => this.notBuiltYet(names.get(file)!)));
      // The files and the end of the lease commit together: a second result for the same lease
      // (replayed, or sent concurrently), or one whose lease ended meanwhile, stores nothing.
      const { alongside } = await this.ingest.ingestWhole(requests, () =>
        this.finish(lease, job, "succeeded", requests.length ? `built ${filenames}` : `already built: ${filenames}`),
      );
      this.jobChanges.notify();
      return alongside;
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500 || !this.stillHeld(lease, jobId)) throw error;
      // Files that are not the job's own (another project, version or target, lying metadata) fail
      // the build, with the reason in its log, rather than leave the lease to expire and the job to be built again.
      const reason = `result refused: ${error.message}`;
      tx(this.db, () => {
        this.store.appendLog(jobId, [{ at: this.now(), stream: "pydepot", text: reason }], lineCost(reason));
        this.finish(lease, job, "failed", reason);
      });
      this.jobChanges.notify();
      throw error;
    }
  }

  /** Queue a release again (all active targets, or one): for site admins. */
  requeue(principal: Principal, project: NormalizedName, version: Version, targetKey?: string): JobRow[] {
    this.access.requireSiteAdmin(principal);
    const projectRow = this.projects.byName(project);
    if (!projectRow) throw notFound(`No project named ${project}`);
    this.planning.planRelease(projectRow.id, version);
    const jobs = this.store.forRelease(projectRow.id, version).filter((job) => !targetKey || job.targetKey === targetKey);
    if (jobs.length === 0) throw notFound(`No build jobs for ${project} ${version}${targetKey ? ` on ${targetKey}` : ""}: is there an sdist and an agent for that target?`);
    tx(this.db, () => {
      for (const job of jobs.filter((row) => row.status !== "leased")) {
        this.store.setStatus(job.id, "queued", "queued again by an admin", this.now());
        this.store.recordEvent(job.id, this.now(), "queued", null, "queued again by an admin");
      }
    });
    this.wakeUps.notify();
    this.jobChanges.notify();
    return jobs.map((job) => this.store.byId(job.id)!);
  }

  /** Site admins only: a cancelled job is built again only when someone asks for it. */
  cancel(principal: Principal, jobId: JobId): JobRow {
    this.access.requireSiteAdmin(principal);
    const job = this.store.byId(jobId);
    if (!job) throw notFound(`No job ${jobId}`);
    if (job.status !== "queued" && job.status !== "leased") throw conflict(`Job ${jobId} is already ${job.status}`);
    tx(this.db, () => {
      this.store.setStatus(jobId, "cancelled", "cancelled by an admin", this.now());
      this.store.recordEvent(jobId, this.now(), "cancelled", null, "cancelled by an admin");
    });
    this.jobChanges.notify();
    return this.store.byId(jobId)!;
  }

  /** Jobs of the projects the principal may read; naming a project it may not read is a 404, as for an unknown one. */
  list(principal: Principal, filter: JobFilter): JobRow[] {
    if (filter.project) this.access.canRead(principal, this.projects.byName(filter.project), () => notFound(`No project named ${filter.project}`));
    return this.store.list(filter, this.access.readableProjects(principal));
  }

  /** One job with its files, history and build log: only for those who may read its project. */
  show(principal: Principal, jobId: JobId, logAfter = 0) {
    const { job } = this.readable(principal, jobId);
    const files = this.files.byJob(jobId);
    return { job, files, events: this.store.events(jobId), log: this.store.log(jobId, logAfter) };
  }

  /** The job if the principal may read its project; an unknown job and an unreadable one are the same 404. */
  readable(principal: Principal, jobId: JobId): { job: JobRow; project: ProjectRow } {
    const job = this.store.byId(jobId);
    const project = job && this.projects.byName(job.project as NormalizedName);
    this.access.canRead(principal, project, () => notFound(`No job ${jobId}`));
    return { job: job!, project };
  }

  private releaseFiles(projectId: number, version: string): FileRow[] {
    return this.files.liveByProject(projectId).filter((file) => file.version === version);
  }

  private describe(jobId: number): Omit<LeasedJob, "leaseSecret" | "buildToken"> {
    const job = this.store.byId(jobId)!;
    return {
      id: job.id,
      project: job.project,
      version: job.version,
      sdist: { filename: job.sdistFilename, path: `/files/${job.project}/${job.sdistFilename}`, sha256: job.sdistSha256 },
      target: this.agents.target(job.targetKey)!,
      timeoutSeconds: this.settings.build_timeout_seconds,
      leaseSeconds: this.settings.lease_seconds,
    };
  }

  /** The build log as stored now, one line per row: `at TAB stream TAB text`. */
  private logDigest(jobId: number): string {
    const digest = createHash("sha256");
    for (const line of this.store.eachLogLine(jobId)) digest.update(`${line.at}\t${line.stream}\t${line.text}\n`);
    return digest.digest("hex");
  }

  private notHeld(jobId: number) {
    return conflict(`Job ${jobId} is not leased to this agent (it expired, was cancelled or finished): drop it`);
  }

  /** A result must be the job's own project, version and target. */
  private checkBelongs(job: JobRow, target: TargetRow, filename: string): ArtifactName {
    const name = parseFilename(filename, job.project as NormalizedName);
    if (name.version !== job.version) throw badRequest(`${filename} is version ${name.version}, but job ${job.id} builds ${job.project} ${job.version}`);
    if (!fits(name, target)) throw badRequest(`${filename} does not install on target ${target.key} of job ${job.id}`);
    return name;
  }

  /** Finish the job and mark the other queued targets a pure result also serves. */
  private settle(lease: Lease, job: JobRow, status: JobStatus, reason: string): JobRow {
    const settled = tx(this.db, () => this.finish(lease, job, status, reason));
    this.jobChanges.notify();
    return settled;
  }

  /** settle() inside the caller's transaction; the caller wakes the job's followers after it commits. */
  private finish(lease: Lease, job: JobRow, status: JobStatus, reason: string): JobRow {
    if (!this.store.finish(job.id, lease.agent.agentId, lease.secretHash, status, reason, this.now())) throw this.notHeld(job.id);
    this.store.recordEvent(job.id, this.now(), status, lease.agent.name, reason);
    if (status === "succeeded") {
      const projectId = this.projects.byName(job.project as NormalizedName)!.id;
      const files = this.releaseFiles(projectId, job.version);
      for (const queued of this.store.queuedForSdist(job.sdistId)) {
        const covering = files.find((file) => fits(file, this.agents.target(queued.targetKey)!));
        if (!covering) continue;
        this.store.setStatus(queued.id, "succeeded", `covered by ${covering.filename}`, this.now());
        this.store.recordEvent(queued.id, this.now(), "succeeded", null, `covered by ${covering.filename}`);
      }
    }
    return this.store.byId(job.id)!;
  }

  private stillHeld(lease: Lease, jobId: number): boolean {
    return this.store.leaseSecretHash(jobId, lease.agent.agentId) === lease.secretHash;
  }

  /**
   * Whether the release still lacks this file: a pure wheel another target built (under this
   * name, or another spelling from another setuptools) is kept as it is. A deleted name goes on
   * to ingest, which refuses it.
   */
  private notBuiltYet(name: ArtifactName): boolean {
    const existing = this.files.byFilename(name.filename);
    if (existing) return Boolean(existing.deletedAt);
    const project = this.projects.byName(name.project)!;
    return !this.files.liveByRelease(project.id, name.version).some((file) => distributionSlot(file) === distributionSlot(name));
  }

  private ingestRequests(agent: AgentPrincipal, job: JobRow, target: TargetRow, built: BuiltFile[]): IngestRequest[] {
    const provenance = { jobId: job.id, agent: agent.name, attempt: job.attempts, sdistSha256: job.sdistSha256, logSha256: this.logDigest(job.id) };
    const log = this.store.log(job.id).map((line) => line.text);
    return built.map((file) => ({
      staged: file.staged,
      filename: file.filename,
      principal: { kind: "system" as const, name: `agent:${agent.name}` },
      origin: "build" as const,
      claimedName: job.project,
      claimedVersion: job.version,
      build: { provenance, linkedLibraries: file.linkedLibraries, log, target },
    }));
  }
}

/**
 * The lines a log that holds `used` of its `budget` still takes, each counted as its text plus
 * LINE_OVERHEAD: each cut at MAX_LOG_LINE_CHARS, and once the log is full one line that says so
 * (the log then counts as full), then nothing; the lines still count as the heartbeat. `charged`:
 * what the kept lines add to `used`.
 */
function withinBudget(lines: LogLine[], used: number, budget: number): { kept: LogLine[]; charged: number } {
  const kept: LogLine[] = [];
  const start = used;
  for (const line of lines) {
    if (used >= budget) break;
    const text = line.text.length > MAX_LOG_LINE_CHARS ? `${line.text.slice(0, MAX_LOG_LINE_CHARS)} [line cut at ${MAX_LOG_LINE_CHARS} characters]` : line.text;
    if (used + lineCost(text) >= budget) {
      const limit = `${budget} bytes (farm.max_log_mib; a line counts its text and ${LINE_OVERHEAD} bytes for its time and stream)`;
      kept.push({ at: line.at, stream: "pydepot", text: `the log reached its limit of ${limit}: later lines of this build are dropped` });
      return { kept, charged: budget - start };
    }
    kept.push({ ...line, text });
    used += lineCost(text);
  }
  return { kept, charged: used - start };
}

/** An agent's lease of a job, proved by its secret. */
interface Lease {
  agent: AgentPrincipal;
  secretHash: string;
}
