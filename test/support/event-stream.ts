// A client of a job's event stream (GET /api/farm/jobs/<id>/events) over real HTTP: what arrived,
// in order, parsed by eventsource-parser (the wire format as a browser reads it), and a way to
// wait until something has arrived, woken by each event rather than by polling.
import http from "node:http";
import { createParser } from "eventsource-parser";
import type { JobState } from "../../src/services/job-stream.js";
import type { JobStatus, LogLine } from "./farm-api.js";

/** A `status` event's data: the job's state as the server's follower sends it. */
export type { JobState } from "../../src/services/job-stream.js";

export type StreamEvent = { type: "log"; id: string | undefined; line: LogLine } | { type: "status"; id: string | undefined; state: JobState };

export interface EventStream {
  status: number;
  statusText: string;
  headers: Headers;
  /** The whole body of an answer other than 200 (a refusal). */
  readonly body: string;
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

export interface StreamOptions {
  /** The local address to connect from (any of 127.0.0.0/8 on loopback): a client of its own to the server. */
  localAddress?: string;
}

/** Opens the stream through node:http (which can pick its local address); resolves once the headers are in, or a refusal's whole body. */
export function openEventStream(url: string, headers: Record<string, string> = {}, options: StreamOptions = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { Accept: "text/event-stream", ...headers }, localAddress: options.localAddress, agent: false }, (response) => {
      const stream = follow(request, response);
      if (stream.status === 200) resolve(stream);
      else stream.ended.then(() => resolve(stream), reject);
    });
    request.once("error", reject);
  });
}

function follow(request: http.ClientRequest, response: http.IncomingMessage): EventStream {
  const events: StreamEvent[] = [];
  const comments: string[] = [];
  const listeners = new Set<() => void>();
  let finished = false;
  let body = "";
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
  const refusal = response.statusCode !== 200;
  let leaving = false;
  response.setEncoding("utf8");
  response.on("data", (chunk: string) => (refusal ? (body += chunk) : parser.feed(chunk)));
  const ended = new Promise<void>((resolve, reject) => {
    response.once("end", resolve);
    response.once("error", (error) => (leaving ? resolve() : reject(error)));
    // Whichever way it went, after 'end' or 'error' when there is one.
    response.once("close", resolve);
  }).finally(() => {
    finished = true;
    changed();
  });
  const stream: EventStream = {
    status: response.statusCode!,
    statusText: response.statusMessage ?? "",
    headers: new Headers(Object.entries(response.headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)] as [string, string]]))),
    get body() {
      return body;
    },
    events,
    comments,
    ended,
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
    close: () => {
      leaving = true;
      request.destroy();
    },
  };
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
