// GET /api/farm/jobs/<id>/events against the real app over HTTP, with a scripted agent holding the
// leases (test/farm/live-log.test.ts follows a real build): refusals exactly as the job's JSON
// route gives them, heartbeats that keep a quiet stream past the server's idle timeout, an admin's
// cancel ending the stream, followers and their wake-ups gone once clients leave, a client that
// stops reading getting everything once it reads again without holding up the others, and the
// bounds on open streams, per client address and in all. The idle timeout is 2 s on most of
// these, so a heartbeat comes every second.
import http from "node:http";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { openEventStream, streamedLines, streamedStatuses, type EventStream, type StreamOptions } from "../support/event-stream.js";
import { FakeAgent, TARGETS, waitFor } from "../support/farm-api.js";
import { parsePrometheusText, promSample } from "../support/prometheus.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { get, publish, tokenAuth } from "./requests.js";

type Who = "reader" | "stranger" | "admin";

/** A server with anonymous reads off, a private project's uploader, reader, stranger and site admin, and an agent with 8 slots. */
async function scene(overrides: { server?: { idle_timeout_seconds: number }; farm?: { long_poll_seconds: number } } = {}) {
  const server = await startTestServer({ access: { anonymous_read: false }, ...overrides });
  const uploader = await server.userToken("alice");
  const auth: Record<Who, string> = {
    reader: tokenAuth(await server.userToken("dave")),
    stranger: tokenAuth(await server.userToken("carol")),
    admin: tokenAuth(await server.userToken("root", { admin: true })),
  };
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311], 8);
  let versions = 0;
  return {
    server,
    agent,
    auth,
    /** A new release of private-pkg, leased by the scripted agent: its job is running. */
    async runningJob(): Promise<number> {
      await publish(server, uploader, await sdist({ name: "private-pkg", version: `1.${++versions}` }));
      if (versions === 1) server.services.accounts.grant("dave", "private-pkg", "view", "test");
      const job = await agent.lease();
      if (!job) throw new Error("no job to lease for the new private-pkg release");
      return job.id;
    },
    eventsUrl: (jobId: number | string) => `${server.url}/api/farm/jobs/${jobId}/events`,
    follow: (jobId: number, who: Who = "reader", headers: Record<string, string> = {}, options: StreamOptions = {}) =>
      openEventStream(`${server.url}/api/farm/jobs/${jobId}/events`, { Authorization: auth[who], ...headers }, options),
    cancel: (jobId: number) => cancel(server.url, jobId, auth.admin),
  };
}

// The idle timeout is 2 s on this one, so a heartbeat comes every second.
let quick: Awaited<ReturnType<typeof scene>>;
let server: TestServer;
let agent: FakeAgent;
let auth: Record<Who, string>;
let runningJob: () => Promise<number>;
let eventsUrl: (jobId: number | string) => string;
let follow: (jobId: number, who?: Who, headers?: Record<string, string>, options?: StreamOptions) => Promise<EventStream>;

beforeAll(async () => {
  quick = await scene({ server: { idle_timeout_seconds: 2 }, farm: { long_poll_seconds: 1 } });
  ({ server, agent, auth, runningJob, eventsUrl, follow } = quick);
});

afterAll(() => quick?.server.stop());

describe("who may follow a job: the same answers as GET /api/farm/jobs/<id>", () => {
  let jobId: number;
  beforeAll(async () => {
    jobId = await runningJob();
  });

  test.each<[string, () => number | string, Who | null]>([
    ["anonymous", () => jobId, null],
    ["a user without a role", () => jobId, "stranger"],
    ["a reader, unknown job", () => 999999, "reader"],
    ["a reader, malformed id", () => "x1", "reader"],
  ])("%s", async (_who, id, who) => {
    const credentials: Record<string, string> = who ? { Authorization: auth[who] } : {};
    const json = await get(`${server.url}/api/farm/jobs/${id()}`, { headers: credentials });
    const stream = await openEventStream(eventsUrl(id()), credentials);
    expect(json.status).not.toBe(200);
    expect([stream.status, stream.statusText, stream.body]).toEqual([json.status, json.statusText, json.body]);
    expect(stream.headers.get("www-authenticate")).toBe(json.headers.get("www-authenticate"));
  });

  test("the answers name the job and the reason", async () => {
    expect((await openEventStream(eventsUrl(jobId))).statusText).toBe("This index requires authentication: use __token__ and an API token");
    expect((await follow(jobId, "stranger")).statusText).toBe(`No job ${jobId}`);
    const badOffset = await follow(jobId, "reader", { "Last-Event-ID": "soon" });
    expect([badOffset.status, badOffset.statusText]).toEqual([400, 'Invalid Last-Event-ID "soon": send the id of the last log line seen, or 0']);
  });
});

describe("a followed job", () => {
  test("quiet: heartbeats keep the stream open past the server's idle timeout", async () => {
    const jobId = await runningJob();
    const stream = await follow(jobId);
    // Three heartbeats, one a second: longer than the 2 s after which the server drops an idle connection.
    await stream.until("three heartbeats", (seen) => (seen.comments.length >= 3 ? true : undefined));
    expect(stream.comments.every((comment) => comment.trim() === "heartbeat")).toBe(true);
    expect(streamedStatuses(stream)).toEqual(["leased"]);
    expect((await agent.log(jobId, ["still here"])).status).toBe(200);
    await stream.until("the line after the heartbeats", (seen) => streamedLines(seen).find((line) => line.text === "still here"));
    stream.close();
  });

  test("cancelled by an admin: the stream ends with the cancelled status after the lines", async () => {
    const jobId = await runningJob();
    expect((await agent.log(jobId, ["one", "two"])).status).toBe(200);
    const stream = await follow(jobId);
    await stream.until("both lines", (seen) => (streamedLines(seen).length === 2 ? true : undefined));
    expect(await quick.cancel(jobId)).toBe(200);
    await stream.ended;
    expect(streamedLines(stream).map((line) => line.text)).toEqual(["one", "two"]);
    expect(streamedStatuses(stream)).toEqual(["leased", "cancelled"]);
    expect(stream.events.at(-1)).toMatchObject({ type: "status", state: { status: "cancelled", reason: "cancelled by an admin" } });
  });

  test("clients that leave take their followers and wake-ups with them", async () => {
    const jobId = await runningJob();
    const streams: EventStream[] = [];
    for (let index = 0; index < 5; index++) streams.push(await follow(jobId));
    for (const stream of streams) await stream.until("the status", (seen) => (streamedStatuses(seen).length > 0 ? true : undefined));
    expect(server.services.jobStream.followers).toBe(5);
    const metrics = await get(`${server.url}/metrics`, { auth: auth.reader });
    expect(promSample(parsePrometheusText(metrics.body), "pydepot_job_streams")).toBe(5);
    for (const stream of streams) stream.close();
    await waitFor("every follower to be closed", async () => (server.services.jobStream.followers === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    await waitFor("no follower to wait for a wake-up", async () => (server.services.jobChanges.waiting === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
  });

  test("a stream ends after 20 heartbeats, so reconnecting checks the credentials again: a revoked token reads no more", async () => {
    const jobId = await runningJob();
    await server.userToken("erin");
    server.services.accounts.grant("erin", "private-pkg", "view", "test");
    const { id, token } = server.services.accounts.createToken("erin", "revocable", "test");
    const stream = await openEventStream(eventsUrl(jobId), { Authorization: tokenAuth(token) });
    await stream.until("the status", (seen) => (streamedStatuses(seen).length > 0 ? true : undefined));
    server.services.accounts.revokeToken(id, "test");
    await stream.ended;
    // Ended while the job runs: no final status, so EventSource reconnects, and is refused.
    expect(streamedStatuses(stream)).toEqual(["leased"]);
    expect(stream.comments.length).toBeGreaterThan(0);
    const again = await openEventStream(eventsUrl(jobId), { Authorization: tokenAuth(token), "Last-Event-ID": "0" });
    expect([again.status, again.statusText]).toEqual([401, "Invalid or revoked API token"]);
  });

  test("HEAD: the headers of a stream, and the answer ends at once", async () => {
    const jobId = await runningJob();
    const answer = await get(eventsUrl(jobId), { method: "HEAD", auth: auth.reader });
    expect([answer.status, answer.headers.get("content-type"), answer.body]).toEqual([200, "text/event-stream; charset=utf-8", ""]);
    await waitFor("the follower to be closed", async () => (server.services.jobStream.followers === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
  });

  test("a client that stops reading is cut off after the idle timeout, and its follower with it", async () => {
    const jobId = await runningJob();
    const stalled = await pausedStream(eventsUrl(jobId), auth.reader);
    await writeLines(agent, jobId, 20);
    // Nothing reaches the client, so nothing is sent for 2 s: the server drops the connection.
    await waitFor("the stalled client's follower to be closed", async () => (server.services.jobStream.followers === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
    await expect(stalled.readToEnd()).rejects.toThrow("aborted");
    expect(await quick.cancel(jobId)).toBe(200);
  });

});

describe("slow clients and many, with the default idle timeout", () => {
  let patient: Awaited<ReturnType<typeof scene>>;
  beforeAll(async () => {
    patient = await scene();
  });
  afterAll(() => patient?.server.stop());

  test("a client that stops reading gets every line once it reads again, and holds up no one else", async () => {
    const jobId = await patient.runningJob();
    const slow = await pausedStream(patient.eventsUrl(jobId), patient.auth.reader);
    const fast = await patient.follow(jobId);
    await writeLines(patient.agent, jobId, 20);
    await fast.until("all 20,000 lines", (seen) => (streamedLines(seen).length === 20_000 ? true : undefined), 120_000);
    fast.close();
    expect(await patient.cancel(jobId)).toBe(200);
    const events = await slow.readToEnd();
    const lines = events.filter((event) => event.event === "log").map((event) => ({ id: event.id, line: JSON.parse(event.data) }));
    expect(lines.length).toBe(20_000);
    expect(lines.every(({ id, line }, index) => line.text.startsWith(`${index} `) && id === String(line.id))).toBe(true);
    expect(events.at(-1)?.event).toBe("status");
    expect(JSON.parse(events.at(-1)!.data).status).toBe("cancelled");
  });

  test("at most 20 streams from one address: one more is refused with 429 and Retry-After, another address is welcome", async () => {
    const jobId = await patient.runningJob();
    const streams: EventStream[] = [];
    for (let index = 0; index < 20; index++) streams.push(await patient.follow(jobId));
    const refused = await patient.follow(jobId);
    expect([refused.status, refused.statusText, refused.headers.get("retry-after")]).toEqual([
      429,
      `Too many live job streams open from 127.0.0.1 (20): close some, or poll GET /api/farm/jobs/${jobId}?log_after=0`,
      "5",
    ]);
    const elsewhere = await patient.follow(jobId, "reader", {}, { localAddress: "127.0.0.2" });
    expect(elsewhere.status).toBe(200);
    for (const stream of [...streams, elsewhere]) stream.close();
    await waitFor("every follower to be closed", async () => (patient.server.services.jobStream.followers === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
  });

  test("at most 200 streams at once: one more is refused with 503 and Retry-After, and a place freed is taken again", async () => {
    const jobId = await patient.runningJob();
    // Ten clients of 20 streams each, from ten loopback addresses.
    const streams: EventStream[] = [];
    for (let client = 2; client <= 11; client++) {
      for (let index = 0; index < 20; index++) streams.push(await patient.follow(jobId, "reader", {}, { localAddress: `127.0.0.${client}` }));
    }
    expect(streams.map((stream) => stream.status)).toEqual(streams.map(() => 200));
    const newcomer = { localAddress: "127.0.0.12" };
    const refused = await patient.follow(jobId, "reader", {}, newcomer);
    expect([refused.status, refused.statusText, refused.headers.get("retry-after")]).toEqual([
      503,
      `Too many live job streams open (200): try again shortly, or poll GET /api/farm/jobs/${jobId}?log_after=0`,
      "5",
    ]);
    // Every open stream still gets what happens.
    expect((await patient.agent.log(jobId, ["to everyone"])).status).toBe(200);
    for (const stream of streams) await stream.until("the line for everyone", (seen) => streamedLines(seen).find((line) => line.text === "to everyone"));
    streams.pop()!.close();
    await waitFor("a place to be freed", async () => (patient.server.services.jobStream.followers === 199 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    const admitted = await patient.follow(jobId, "reader", {}, newcomer);
    expect(admitted.status).toBe(200);
    for (const stream of [...streams, admitted]) stream.close();
  });
});

describe("a server stopping with streams open", () => {
  test("cuts them off (EventSource reconnects to the next server), and its stop() completes", async () => {
    const stopping = await scene();
    const jobId = await stopping.runningJob();
    const streams = [await stopping.follow(jobId), await stopping.follow(jobId)];
    for (const stream of streams) await stream.until("the status", (seen) => (streamedStatuses(seen).length > 0 ? true : undefined));
    const cut = Promise.all(streams.map((stream) => expect(stream.ended).rejects.toThrow("aborted")));
    await stopping.server.stop();
    await cut;
    expect(stopping.server.services.jobStream.followers).toBe(0);
    expect(stopping.server.services.jobChanges.waiting).toBe(0);
  });
});

/** `batches` × 1,000 log lines of 1 KiB: far more than the socket buffers between the server and a client that does not read. */
async function writeLines(agent: FakeAgent, jobId: number, batches: number): Promise<void> {
  const text = "x".repeat(1024);
  for (let batch = 0; batch < batches; batch++) {
    const lines = Array.from({ length: 1000 }, (_, index) => `${batch * 1000 + index} ${text}`);
    const answer = await agent.log(jobId, lines);
    if (answer.status !== 200) throw new Error(`log of job ${jobId}: ${answer.status} ${answer.statusText}`);
  }
}

/**
 * An event stream read through node:http with the response paused from the first byte: the
 * client reads nothing until readToEnd(), as a stalled browser tab would.
 */
function pausedStream(url: string, authorization: string): Promise<{ readToEnd(): Promise<{ event?: string; id?: string; data: string }[]> }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { Accept: "text/event-stream", Authorization: authorization } }, (response) => {
      response.pause();
      if (response.statusCode !== 200) return reject(new Error(`event stream: ${response.statusCode} ${response.statusMessage}`));
      resolve({
        readToEnd: () =>
          new Promise((done, failed) => {
            const events: { event?: string; id?: string; data: string }[] = [];
            const parser = createParser({ onEvent: (event) => events.push(event) });
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => parser.feed(chunk));
            response.once("end", () => done(events));
            response.once("error", failed);
            response.resume();
          }),
      });
    });
    request.once("error", reject);
  });
}

/**
 * POST /api/farm/jobs/<id>/cancel as a site admin, on a connection of its own: this process also
 * parses megabytes of events, and fetch could reuse a pooled keep-alive connection the server
 * closed meanwhile before noticing (ECONNRESET, and a POST is never retried). Answers the status.
 */
function cancel(base: string, jobId: number, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}/api/farm/jobs/${jobId}/cancel`, { method: "POST", agent: false, headers: { Authorization: authorization, "Content-Type": "application/json" } }, (response) => {
      response.resume();
      response.once("end", () => resolve(response.statusCode!));
    });
    request.once("error", reject);
    request.end("{}");
  });
}
