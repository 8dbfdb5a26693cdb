import { tooManyRequests, unavailable } from "../core/errors.js";
import { isJobLive, type JobId, type JobStatus } from "../core/types.js";
import type { JobRow, JobStore, LogLine } from "../store/jobs.js";
import type { WakeUps } from "../store/wakeups.js";
import type { Principal } from "./access.js";
import type { Jobs } from "./jobs.js";

/** What a follower sees: a log line (its id is the offset to resume after), or the job's state when it changed. */
export type JobStreamEvent = { type: "log"; line: LogLine } | { type: "status"; state: JobState };

/** A job's state as a follower sees it change. */
export interface JobState {
  status: JobStatus;
  reason: string;
  agent: string | null;
  attempts: number;
  updatedAt: string;
}

export interface JobStreamLimits {
  /** Followers open at once in this server; one more is refused (503) rather than slowing every build's wake-ups. */
  maxFollowers: number;
  /** Followers open at once from one client address (429 beyond), so one client cannot take every place. */
  maxPerClient: number;
  /** The longest a follower waits without an event: the transport's heartbeat. */
  idleMs: number;
}

/** Log lines read per step: the most a slow client keeps in memory while its connection drains. */
const PAGE_LINES = 500;

/**
 * A follower ends after this many heartbeat periods (5 minutes by default): EventSource reconnects
 * with Last-Event-ID, so nothing is lost, and the reconnection checks the credentials and read
 * access again, so a revoked token stops reading within that time.
 */
const LIFETIME_IN_HEARTBEATS = 20;

/**
 * Live followers of one build job each: its log lines as they arrive and its status when it
 * changes, until a final status. Woken by the job wake-ups (every log append and state change
 * rings them), re-reading SQLite each time, as every waiter does; nothing is kept per job.
 */
export class JobStream {
  private open = 0;
  private readonly byClient = new Map<string, number>();

  constructor(
    private readonly jobs: Jobs,
    private readonly store: JobStore,
    private readonly jobChanges: WakeUps,
    private readonly limits: JobStreamLimits,
  ) {}

  /** How many followers are open now. */
  get followers(): number {
    return this.open;
  }

  /**
   * A follower of the job from the log line after `after` (0: the whole log), for those who may
   * read its project (the same 401 / 404 as the job itself), asked for from the address `client`.
   * The caller must close() it.
   */
  follow(principal: Principal, client: string, jobId: JobId, after: number): JobFollower {
    this.jobs.readable(principal, jobId);
    const fromClient = this.byClient.get(client) ?? 0;
    if (fromClient >= this.limits.maxPerClient) {
      throw tooManyRequests(`Too many live job streams open from ${client} (${this.limits.maxPerClient}): close some, or poll GET /api/farm/jobs/${jobId}?log_after=${after}`, 5);
    }
    if (this.open >= this.limits.maxFollowers) {
      throw unavailable(`Too many live job streams open (${this.limits.maxFollowers}): try again shortly, or poll GET /api/farm/jobs/${jobId}?log_after=${after}`, 5);
    }
    this.open++;
    this.byClient.set(client, fromClient + 1);
    let closed = false;
    const release = () => {
      if (closed) return;
      closed = true;
      this.open--;
      const left = this.byClient.get(client)! - 1;
      if (left === 0) this.byClient.delete(client);
      else this.byClient.set(client, left);
    };
    return new JobFollower(jobId, after, this.store, this.jobChanges, this.limits.idleMs, release);
  }
}

/** One client's place in one job's log; pulled by the sender, so a slow client slows only its own reads. */
export class JobFollower {
  private lastState = "";
  private ended = false;
  private readonly endsAt: number;

  constructor(
    private readonly jobId: JobId,
    private after: number,
    private readonly store: JobStore,
    private readonly jobChanges: WakeUps,
    private readonly idleMs: number,
    /** Gives the follower's place back; once, however often it is called. */
    readonly close: () => void,
  ) {
    this.endsAt = Date.now() + idleMs * LIFETIME_IN_HEARTBEATS;
  }

  /**
   * The next events, as soon as there are any. An empty list means nothing happened for idleMs
   * (time for a heartbeat); null means the end: the job reached a final status (already sent,
   * after its last line), the follower's lifetime is over, or `signal` aborted.
   */
  async next(signal: AbortSignal): Promise<JobStreamEvent[] | null> {
    const deadline = Date.now() + this.idleMs;
    while (!this.ended && !signal.aborted && Date.now() < this.endsAt) {
      const generation = this.jobChanges.generation;
      const events = this.read();
      if (events.length > 0) return events;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return [];
      // A change between the read and here has moved the generation: read again instead of sleeping through it.
      if (generation === this.jobChanges.generation) await this.jobChanges.wait(remaining, signal);
    }
    return null;
  }

  private read(): JobStreamEvent[] {
    // The row first, then the lines: a final status read here means every line is already in.
    const job = this.store.byId(this.jobId);
    if (!job) return this.end();
    const lines = this.store.logPage(this.jobId, this.after, PAGE_LINES);
    const events: JobStreamEvent[] = lines.map((line) => ({ type: "log", line }));
    this.after = lines.at(-1)?.id ?? this.after;
    if (lines.length === PAGE_LINES) return events;
    const state = stateOf(job);
    const key = JSON.stringify([state.status, state.reason, state.agent, state.attempts]);
    if (key !== this.lastState) events.push({ type: "status", state });
    this.lastState = key;
    this.ended = !isJobLive(job.status);
    return events;
  }

  private end(): JobStreamEvent[] {
    this.ended = true;
    return [];
  }
}

function stateOf(job: JobRow): JobState {
  return { status: job.status, reason: job.reason, agent: job.agent, attempts: job.attempts, updatedAt: job.updatedAt };
}
