import type { Version } from "../core/types.js";
import type { JobStore } from "../store/jobs.js";
import type { WakeUps } from "../store/wakeups.js";
import type { Planner } from "./planner.js";

/** Sdists a wake-up plans at once while the background runs; more (stored by another process) are left to it. */
const AT_ONCE_SDISTS = 32;
/** How often a lease re-plans even without a wake-up, to see changes made by other processes (the CLI). */
const REPLAN_MS = 10_000;

/** A background pass: the sdists in (cursor, end] to plan against the targets named. */
export interface PassOrder {
  id: number;
  targets: string[];
  cursor: number;
  end: number;
}

/** Where background passes run, in the order given (a worker thread with its own connection: workers/planning-thread.ts). */
export interface BackgroundPlanner {
  run(pass: PassOrder): void;
  /** Resolves once no chunk runs any more; a pass cut short is planned again by the next start. */
  stop(): Promise<void>;
}

/** How a background pass went: what it added, and how it held the write lock. */
export interface PassSummary {
  created: number;
  chunks: number;
  longestChunkMs: number;
  seconds: number;
}

/** What the background tells planning. */
export interface PassReports {
  done(id: number, summary: PassSummary): void;
  log(message: string): void;
  /** The background ended by itself (it failed): its passes are left to the next start. */
  lost(reason: string): void;
}

/**
 * When jobs are planned (the rules are the Planner's). A wake-up plans the sdists stored since the
 * last one, at once, so an upload's jobs exist when its answer is sent. A target seen for the
 * first time (or active again) needs every sdist: in the server that full pass runs in the
 * background (`start`), on a thread of its own, so the event loop does no planning work for it.
 * UNIQUE (sdist_id, target_key) keeps the two from making a job twice.
 */
export class Planning {
  /** Every sdist up to this file id is planned against every known target (or left to a pass). */
  private cursor: number;
  /** Active targets planned for every sdist up to the cursor, or with a pass under way. */
  private readonly known = new Set<string>();
  /** Passes not handed to the background yet (it is not started, or not open). */
  private readonly pending: PassOrder[] = [];
  private readonly underWay = new Set<number>();
  private passCount = 0;
  private openBackground: ((reports: PassReports) => BackgroundPlanner) | undefined;
  private background: BackgroundPlanner | undefined;
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private plannedAt = 0;
  private log: (message: string) => void = () => {};

  constructor(
    private readonly planner: Planner,
    private readonly store: JobStore,
    private readonly wakeUps: WakeUps,
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
    const active = this.planner.activeTargets();
    const activeKeys = new Set(active.map((target) => target.key));
    for (const key of this.known) if (!activeKeys.has(key)) this.known.delete(key);
    const fresh = [...activeKeys].filter((key) => !this.known.has(key));
    const from = this.cursor;
    // File rows are never deleted, so file ids only grow: the range (from, last] is what is new.
    const last = this.store.lastFileId();
    let created = 0;
    if (last > from && active.length > 0) {
      const background = this.openBackground !== undefined;
      // A command (`pydepot import`) runs to its end; a server must not hold its event loop.
      const sdists = this.store.sdistsBetween(from, last, background ? AT_ONCE_SDISTS : -1);
      created = this.planner.planSdists(sdists, active);
      if (background && sdists.length === AT_ONCE_SDISTS) this.addPass([...activeKeys], sdists.at(-1)!.sdistId, last);
    }
    this.cursor = last;
    if (fresh.length > 0 && from > 0) this.addPass(fresh, 0, from);
    for (const key of fresh) this.known.add(key);
    return created;
  }

  /** plan(), unless a pass ran recently: a lease sees other processes' changes (the CLI) this way. */
  planIfStale(): void {
    if (Date.now() - this.plannedAt > REPLAN_MS) this.plan();
  }

  /** Plan one release's sdists against every active target at once (an admin's requeue needs its jobs). */
  planRelease(projectId: number, version: Version): void {
    this.planner.planSdists(this.store.releaseSdists(projectId, version), this.planner.activeTargets());
  }

  /**
   * Run background passes from now on, in what `open` starts at the first one (the server; a
   * command plans only what it stores).
   */
  start(log: (message: string) => void, open: (reports: PassReports) => BackgroundPlanner): void {
    this.log = log;
    this.openBackground = open;
    this.closing = undefined;
    this.plan();
    this.handOver();
  }

  /** No chunk runs after the promise resolves; a pass cut short is planned again by the next start. */
  stop(): Promise<void> {
    this.openBackground = undefined;
    if (this.background) this.closing = this.background.stop();
    this.background = undefined;
    this.pending.length = 0;
    this.underWay.clear();
    this.settleIdle();
    return this.closing ?? Promise.resolve();
  }

  /** Resolves once no background pass is left (or planning stopped). */
  idle(): Promise<void> {
    if (!this.openBackground || this.pending.length + this.underWay.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private addPass(targets: string[], cursor: number, end: number): void {
    this.pending.push({ id: ++this.passCount, targets, cursor, end });
    this.handOver();
  }

  private handOver(): void {
    if (!this.openBackground || this.pending.length === 0) return;
    this.background ??= this.openBackground({
      done: (id, summary) => this.passDone(id, summary),
      log: (message) => this.log(message),
      lost: (reason) => {
        this.log(`planning jobs in the background stopped (${reason}): the next start plans what is left`);
        this.openBackground = undefined;
        this.background = undefined;
        this.underWay.clear();
        this.settleIdle();
      },
    });
    for (const pass of this.pending.splice(0)) {
      this.underWay.add(pass.id);
      this.background.run(pass);
    }
  }

  private passDone(id: number, summary: PassSummary): void {
    if (!this.underWay.delete(id)) return;
    const { created, chunks, longestChunkMs, seconds } = summary;
    this.log(`planned ${created} job(s) in the background in ${seconds.toFixed(1)} s: ${chunks} chunk(s), the longest ${longestChunkMs.toFixed(1)} ms`);
    // Leases waiting for work look again once, not after every chunk.
    if (created > 0) this.wakeUps.notify();
    if (this.underWay.size === 0) this.settleIdle();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
