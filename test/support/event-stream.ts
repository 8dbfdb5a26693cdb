// A client of a job's event stream (GET /api/farm/jobs/<id>/events) over real HTTP: what arrived,
// in order, parsed by eventsource-parser (the wire format as a browser reads it), and a way to
// wait until something has arrived, woken by each event rather than by polling.
import { createParser } from "eventsource-parser";
import type { JobStatus, LogLine } from "./farm-api.js";

export interface JobState {
  status: JobStatus;
  reason: string;
  agent: string | null;
  attempts: number;
  updatedAt: string;
}

export type StreamEvent = { type: "log"; id: string | undefined; line: LogLine } | { type: "status"; id: string | undefined; state: JobState };

export interface EventStream {
  status: number;
  statusText: string;
  headers: Headers;
  /** The whole body of an answer other than 200 (a refusal). */
  body: string;
  /** Events in arrival order. */
  readonly events: StreamEvent[];
  /** Comment lines (heartbeats). */
  readonly comments: string[];
  /** Resolves once the server ended the stream (not when close() did). */
  ended: Promise<void>;
  /** Waits until `matches` holds for what has arrived; fails with `what` and the events if the stream ends or the time is up first. */
  until<T>(what: string, matches: (stream: EventStream) => T | undefined, timeoutMs?: number): Promise<T>;
  /** Leave, as a closed browser tab does. */
  close(): void;
}

/** Generous for real builds on a busy 2-core machine. */
const WAIT_MS = 240_000;

export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: "text/event-stream", ...headers }, signal: abort.signal });
  const events: StreamEvent[] = [];
  const comments: string[] = [];
  const listeners = new Set<() => void>();
  let finished = false;
  const changed = () => {
    for (const listener of listeners) listener();
  };
  const parser = createParser({
    onEvent: (message) => {
      const data = JSON.parse(message.data);
      events.push(message.event === "log" ? { type: "log", id: message.id, line: data } : { type: "status", id: message.id, state: data });
      changed();
    },
    onComment: (comment) => {
      comments.push(comment);
      changed();
    },
  });
  const stream: EventStream = {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    body: "",
    events,
    comments,
    ended: Promise.resolve(),
    until: (what, matches, timeoutMs = WAIT_MS) =>
      new Promise((resolve, reject) => {
        const settle = (outcome: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          outcome();
        };
        const fail = (why: string) => settle(() => reject(new Error(`${why} ${what}; it sent:\n${events.map((event) => JSON.stringify(event)).join("\n")}`)));
        const check = () => {
          const found = matches(stream);
          if (found !== undefined) settle(() => resolve(found));
          else if (finished) fail("the event stream ended before");
        };
        const timer = setTimeout(() => fail(`gave up after ${timeoutMs} ms waiting for`), timeoutMs);
        listeners.add(check);
        check();
      }),
    close: () => abort.abort(),
  };
  if (response.status !== 200) {
    stream.body = await response.text();
    finished = true;
    return stream;
  }
  stream.ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    } finally {
      finished = true;
      changed();
    }
  })();
  return stream;
}

/** The log lines a stream has sent so far. */
export function streamedLines(stream: EventStream): LogLine[] {
  return stream.events.flatMap((event) => (event.type === "log" ? [event.line] : []));
}

/** The statuses a stream has sent so far. */
export function streamedStatuses(stream: EventStream): JobStatus[] {
  return stream.events.flatMap((event) => (event.type === "status" ? [event.state.status] : []));
}
