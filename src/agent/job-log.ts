import { MAX_AGENT_JSON_BYTES, MAX_LOG_BATCH_LINES, lineCost, type LogLine } from "../core/farm.js";
import { ServerRefusal, type FarmClient } from "./client.js";
import type { LeasedJobMessage } from "./messages.js";

/**
 * What one log request carries at most: half the server's line limit and three quarters of its
 * body limit, so the JSON around the text (escapes, `at`, field names) never takes a batch past
 * either. A batch the server refused for its size would come back bigger at the next beat, and
 * no beat would ever keep the lease.
 */
const BATCH_LINES = MAX_LOG_BATCH_LINES / 2;
const BATCH_BYTES = (MAX_AGENT_JSON_BYTES * 3) / 4;

/**
 * The most output an agent holds for one job while the server cannot be reached, counted as the
 * server counts a log's budget: twice the server's default budget. Beyond it later lines are
 * dropped, as the server drops them past its budget, or a build printing through an outage would
 * grow the agent until it died.
 */
const HELD_LIMIT = 64 * 1024 * 1024;

/**
 * One job's build output on its way to the server, which is also the lease's heartbeat: every
 * send() delivers what is pending in batches within the server's limits, and at least one request
 * (an empty batch keeps the lease too). One send at a time, so the lines arrive in order.
 */
export class JobLog {
  private readonly pending: LogLine[] = [];
  /** What `pending` costs, by lineCost. */
  private held = 0;
  private dropping = false;
  private sending: Promise<void> | null = null;

  constructor(
    private readonly client: FarmClient,
    private readonly job: LeasedJobMessage,
    /** The server took the job back (409): the build must end. */
    private readonly takenBack: () => void,
    private readonly log: (message: string) => void,
  ) {}

  add(stream: string, text: string): void {
    if (this.held + lineCost(text) > HELD_LIMIT) return this.drop();
    this.dropping = false;
    this.hold({ at: new Date().toISOString(), stream, text });
  }

  /** Said once per gap, where the gap is, so the log shows that lines are missing there. */
  private drop(): void {
    if (this.dropping) return;
    this.dropping = true;
    const text = `the agent held ${HELD_LIMIT} bytes of output for this job while the server could not be reached: lines are dropped here until it answers`;
    this.hold({ at: new Date().toISOString(), stream: "agent", text });
  }

  private hold(line: LogLine): void {
    this.pending.push(line);
    this.held += lineCost(line.text);
  }

  /** A heartbeat: nothing, while the previous one is still sending (it is the heartbeat then). */
  beat(): Promise<void> {
    return this.sending ?? this.send();
  }

  /**
   * Send every pending line. Rejects while the server is unreachable or failing (5xx), the lines
   * kept for the next try; a batch refused for anything else (4xx but 409) is dropped, said in the
   * agent's own log, or it would be refused at every beat for ever.
   */
  send(): Promise<void> {
    const sending = (this.sending ?? Promise.resolve()).then(() => this.sendAll());
    // What the next send waits for: this one ended, well or not (the caller hears how).
    const ended = sending.catch(() => undefined);
    this.sending = ended;
    void ended.then(() => {
      if (this.sending === ended) this.sending = null;
    });
    return sending;
  }

  private async sendAll(): Promise<void> {
    do {
      const batch = this.pending.splice(0, batchLength(this.pending));
      const cost = costOf(batch);
      this.held -= cost;
      try {
        await this.client.log(this.job, batch);
      } catch (error) {
        if (error instanceof ServerRefusal && error.status === 409) return this.takenBack();
        if (error instanceof ServerRefusal && error.status < 500) {
          this.log(`job ${this.job.id}: dropped ${batch.length} log line(s) the server refused (${error.message})`);
          continue;
        }
        this.pending.unshift(...batch);
        this.held += cost;
        throw error;
      }
    } while (this.pending.length > 0);
  }
}

/** How many of the first lines fit one request: at least one (a line is at most MAX_LOG_LINE_CHARS, far below BATCH_BYTES). */
function batchLength(lines: LogLine[]): number {
  let bytes = 0;
  for (let index = 0; index < Math.min(lines.length, BATCH_LINES); index++) {
    bytes += Buffer.byteLength(JSON.stringify(lines[index]));
    if (bytes > BATCH_BYTES && index > 0) return index;
  }
  return Math.min(lines.length, BATCH_LINES);
}

function costOf(lines: LogLine[]): number {
  return lines.reduce((sum, line) => sum + lineCost(line.text), 0);
}
