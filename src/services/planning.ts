import { fits } from "../core/tags.js";
import type { Version } from "../core/types.js";
import { compareVersions, satisfiesRequiresPython } from "../core/versions.js";
import type { AgentStore, TargetRow } from "../store/agents.js";
import { derivedTx, type Db } from "../store/db.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { BuildCandidate, JobStatus, JobStore } from "../store/jobs.js";
import type { WakeUps } from "../store/wakeups.js";

/** Work one background chunk does before it gives the event loop back (one short transaction). */
const CHUNK_MS = 2;
/** Sdists one query of a chunk reads. */
const BATCH_SDISTS = 16;
/** Sdists a wake-up plans at once while the background runs; more (stored by another process) are left to it. */
const AT_ONCE_SDISTS = 32;
/** How often a lease re-plans even without a wake-up, to see changes made by other processes (the CLI). */
const REPLAN_MS = 10_000;
/** Wait before a chunk that failed (a database locked by another process) runs again. */
const RETRY_MS = 1_000;

/** Sdists in (cursor, end] still to plan against `targets` (keys). */
interface Pass {
  targets: Set<string>;
  cursor: number;
  end: number;
  created: number;
}

type LatestOf = (projectId: number) => string | undefined;

/**
 * Decides which (sdist, active target) pairs need a job and inserts the missing ones: queued,
 * `not_applicable` with the reason, or covered by a fitting file. A wake-up plans the sdists
 * stored since the last one, at once, so an upload's jobs exist when its answer is sent. A target
 * seen for the first time (or active again) needs every sdist: that full pass runs in the
 * background in chunks of about CHUNK_MS, each its own transaction, yielding with setImmediate,
 * so the event loop is never held for long. UNIQUE (sdist_id, target_key) keeps the two from
 * making a job twice.
 */
export class Planning {
  /** Every sdist up to this file id is planned against every known target (or left to a pass). */
  private cursor: number;
  /** Active targets planned for every sdist up to the cursor, or with a pass under way. */
  private readonly known = new Set<string>();
  private readonly passes: Pass[] = [];
  private running = false;
  private next: { cancel(): void } | undefined;
  private idleWaiters: (() => void)[] = [];
  private plannedAt = 0;
  private log: (message: string) => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly store: JobStore,
    private readonly agents: AgentStore,
    private readonly files: FileStore,
    private readonly wakeUps: WakeUps,
    private readonly now: () => string,
  ) {
    this.cursor = store.lastFileId();
    wakeUps.onNotify(() => this.plan());
  }

  /**
   * Plan the sdists stored since the last pass against every active target, and hand every
   * sdist before them to a background pass for each target new to this process. Runs at every
   * wake-up. Returns how many jobs it added at once.
   */
  plan(): number {
    this.plannedAt = Date.now();
    const active = this.agents.activeTargets();
    const activeKeys = new Set(active.map((target) => target.key));
    for (const key of this.known) if (!activeKeys.has(key)) this.known.delete(key);
    for (const pass of this.passes) for (const key of pass.targets) if (!activeKeys.has(key)) pass.targets.delete(key);
    const fresh = active.filter((target) => !this.known.has(target.key));
    const from = this.cursor;
    // File rows are never deleted, so file ids only grow: the range (from, last] is what is new.
    const last = this.store.lastFileId();
    let created = 0;
    if (last > from && active.length > 0) {
      // A command (`pydepot import`) runs to its end; a server must not hold its event loop.
      const sdists = this.store.sdistsBetween(from, last, this.running ? AT_ONCE_SDISTS : -1);
      const latestOf = this.latestVersions();
      created = derivedTx(this.db, () => sdists.reduce((count, sdist) => count + this.planSdist(sdist, active, latestOf), 0));
      if (this.running && sdists.length === AT_ONCE_SDISTS) this.passes.push({ targets: activeKeys, cursor: sdists.at(-1)!.sdistId, end: last, created: 0 });
    }
    this.cursor = last;
    if (fresh.length > 0) this.passes.push({ targets: new Set(fresh.map((target) => target.key)), cursor: 0, end: from, created: 0 });
    for (const target of fresh) this.known.add(target.key);
    this.schedule(0);
    return created;
  }

  /** plan(), unless a pass ran recently: a lease sees other processes' changes (the CLI) this way. */
  planIfStale(): void {
    if (Date.now() - this.plannedAt > REPLAN_MS) this.plan();
  }

  /** Plan one release's sdists against every active target at once (an admin's requeue needs its jobs). */
  planRelease(projectId: number, version: Version): void {
    const targets = this.agents.activeTargets();
    const latestOf = this.latestVersions();
    derivedTx(this.db, () => {
      for (const sdist of this.store.releaseSdists(projectId, version)) this.planSdist(sdist, targets, latestOf);
    });
  }

  /** Run background passes from now on (the server; a command plans only what it stores). */
  start(log: (message: string) => void): void {
    this.log = log;
    this.running = true;
    this.plan();
  }

  /** No chunk runs after this; a pass cut short is planned again by the next start. */
  stop(): void {
    this.running = false;
    this.next?.cancel();
    this.next = undefined;
    this.settleIdle();
  }

  /** Resolves once no background pass is left (or planning stopped). */
  idle(): Promise<void> {
    if (!this.running || this.passes.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(delayMs: number): void {
    if (!this.running || this.next || this.passes.length === 0) return;
    const run = () => {
      this.next = undefined;
      this.step();
    };
    if (delayMs === 0) {
      const immediate = setImmediate(run);
      this.next = { cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(run, delayMs);
      this.next = { cancel: () => clearTimeout(timer) };
    }
  }

  private step(): void {
    try {
      this.runChunk();
      this.schedule(0);
    } catch (error) {
      this.log(`planning jobs in the background failed (${(error as Error).message}): trying again in ${RETRY_MS / 1000} s`);
      this.schedule(RETRY_MS);
    }
  }

  /** Plan the first pass's next sdists for about CHUNK_MS, in one transaction. */
  private runChunk(): void {
    const pass = this.passes[0];
    const targets = this.agents.activeTargets().filter((target) => pass.targets.has(target.key));
    const deadline = performance.now() + CHUNK_MS;
    const latestOf = this.latestVersions();
    let cursor = pass.cursor;
    let done = targets.length === 0;
    const created = derivedTx(this.db, () => {
      let count = 0;
      while (!done && performance.now() < deadline) {
        const sdists = this.store.sdistsBetween(cursor, pass.end, BATCH_SDISTS);
        done = sdists.length < BATCH_SDISTS;
        for (const sdist of sdists) {
          count += this.planSdist(sdist, targets, latestOf);
          cursor = sdist.sdistId;
          if (performance.now() >= deadline && sdist !== sdists.at(-1)) {
            done = false;
            break;
          }
        }
      }
      return count;
    });
    pass.cursor = cursor;
    pass.created += created;
    if (!done) return;
    this.passes.shift();
    // Leases waiting for work look again once, not after every chunk.
    if (pass.created > 0) this.wakeUps.notify();
    if (this.passes.length === 0) this.settleIdle();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * One sdist against some targets, under the backfill rule (a target that registers later gets
   * jobs for the latest version of each project only); how many jobs it added.
   */
  private planSdist(candidate: BuildCandidate, targets: TargetRow[], latestOf: LatestOf): number {
    const planned = new Set(this.store.plannedTargets(candidate.sdistId));
    let created = 0;
    let files: FileRow[] | undefined;
    for (const target of targets) {
      if (planned.has(target.key)) continue;
      const isNew = candidate.uploadedAt >= target.firstSeenAt;
      if (!isNew && latestOf(candidate.projectId) !== candidate.version) continue;
      const [status, reason] = this.decide(candidate, target, (files ??= this.releaseFiles(candidate.projectId, candidate.version)));
      const id = this.store.insert(candidate.sdistId, target.key, status, reason, this.now());
      if (id !== undefined) {
        this.store.recordEvent(id, this.now(), status, null, reason);
        created++;
      }
    }
    return created;
  }

  private decide(candidate: BuildCandidate, target: TargetRow, releaseFiles: FileRow[]): [JobStatus, string] {
    if (!satisfiesRequiresPython(target.pythonVersion, candidate.requiresPython)) {
      return ["not_applicable", `Requires-Python ${candidate.requiresPython} excludes Python ${target.pythonVersion}`];
    }
    const covering = releaseFiles.find((file) => fits(file, target));
    return covering ? ["succeeded", `covered by ${covering.filename}`] : ["queued", ""];
  }

  private releaseFiles(projectId: number, version: string): FileRow[] {
    return this.files.liveByProject(projectId).filter((file) => file.version === version);
  }

  /** Each project's latest sdist version, read when first asked (one indexed query per project). */
  private latestVersions(): LatestOf {
    const latest = new Map<number, string | undefined>();
    return (projectId) => {
      if (!latest.has(projectId)) {
        const versions = this.store.sdistVersions(projectId) as Version[];
        latest.set(projectId, versions.reduce<Version | undefined>((best, version) => (!best || compareVersions(version, best) > 0 ? version : best), undefined));
      }
      return latest.get(projectId);
    };
  }
}
