// A job's event stream through Debian's nginx, configured by `pydepot nginx-config --full` as
// shipped: each event must reach the client when pydepot sends it, not when nginx's buffer fills
// or the stream ends, and must never be compressed (a gzip stream holds its bytes back too).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { openEventStream, streamedLines, streamedStatuses } from "../support/event-stream.js";
import { FakeAgent, TARGETS } from "../support/farm-api.js";
import { basicAuth, startTestServer, type TestServer } from "../support/server.js";
import { publish } from "../http/requests.js";
import { startNginxFor, type Nginx } from "./proxy.js";

describe("a job's event stream through nginx", () => {
  let server: TestServer;
  let nginx: Nginx;
  let agent: FakeAgent;
  let admin: string;

  beforeAll(async () => {
    server = await startTestServer();
    nginx = await startNginxFor(server);
    admin = basicAuth("__token__", await server.userToken("root", { admin: true }));
    agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("nginx test", "test"), "builder", [TARGETS.wheel311]);
  });

  afterAll(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  test("each event arrives as it is sent, uncompressed, and the stream ends after the final status", async () => {
    await publish(server, await server.userToken("alice"), await sdist({ name: "proxied-pkg", version: "1.0" }));
    const job = await agent.lease();
    if (!job) throw new Error("no job for proxied-pkg");
    const stream = await openEventStream(`${nginx.url}/api/farm/jobs/${job.id}/events`, { "Accept-Encoding": "gzip" });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(stream.headers.get("content-encoding")).toBeNull();
    // A few dozen bytes, far below nginx's buffers: they arrive only if nginx passes them on at once.
    await stream.until("the running job's status", (seen) => (streamedStatuses(seen).includes("leased") ? true : undefined), 30_000);
    expect((await agent.log(job.id, ["through the proxy"])).status).toBe(200);
    await stream.until("the new line", (seen) => streamedLines(seen).find((line) => line.text === "through the proxy"), 30_000);

    const cancelled = await fetch(`${nginx.url}/api/farm/jobs/${job.id}/cancel`, { method: "POST", headers: { Authorization: admin } });
    expect(cancelled.status).toBe(200);
    await stream.ended;
    expect(streamedStatuses(stream)).toEqual(["leased", "cancelled"]);
  });
});
