// JSON bodies: 64 KB for users and anonymous callers on every JSON route, the farm API's included;
// 4 MB for an authenticated build agent only (its log batches). Over the limit: 413 with the limit.
import { afterAll, beforeAll, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { FakeAgent, LEASE_SECRET_HEADER, TARGETS } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { publish, tokenAuth } from "./requests.js";

const USER_LIMIT = 64 * 1024;
const AGENT_LIMIT = 4 * 1024 * 1024;

let server: TestServer;
let admin: string;
let agent: FakeAgent;
let jobId: number;

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.userToken("root", { admin: true });
  agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder-1", [TARGETS.wheel311]);
  await publish(server, admin, await sdist({ name: "logged", version: "1.0" }));
  jobId = (await agent.lease(10))!.id;
});

afterAll(() => server?.stop());

/** A JSON body of exactly `bytes` bytes: `{"<key>": …, "pad": "xxx…"}`. */
function bodyOf(bytes: number, fields: Record<string, unknown>): string {
  const base = JSON.stringify({ ...fields, pad: "" });
  return JSON.stringify({ ...fields, pad: "x".repeat(bytes - base.length) });
}

async function post(path: string, body: string, auth?: string): Promise<{ status: number; statusText: string }> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (auth) headers.Authorization = auth;
  const answer = await fetch(`${server.url}${path}`, { method: "POST", headers, body });
  await answer.arrayBuffer();
  return { status: answer.status, statusText: answer.statusText };
}

const TOO_LARGE = (limit: number) => [413, `Request body too large: this route takes at most ${limit} bytes`];

test.each([
  ["a re-queue by a site admin", "/api/farm/builds", () => tokenAuth(admin), { project: "logged", version: "1.0" }],
  ["an enrolment by a site admin", "/api/farm/enrolments", () => tokenAuth(admin), { label: "x" }],
  ["an anonymous registration", "/api/farm/register", () => undefined, { name: "x", version: "1", enrolment_secret: "x" }],
  ["a yank by a site admin", "/api/projects/logged/releases/1.0/yank", () => tokenAuth(admin), { reason: "x" }],
  ["a check request by a site admin", "/api/checks", () => tokenAuth(admin), { target: "logged" }],
])("%s over 64 KB → 413, nothing changed", async (_what, path, auth, fields) => {
  const before = snapshot(server.services.db, server.storage);
  expect(Object.values(await post(path, bodyOf(USER_LIMIT + 1, fields), auth()))).toEqual(TOO_LARGE(USER_LIMIT));
  expect(snapshot(server.services.db, server.storage)).toEqual(before);
});

test("a build agent's log batch of 1 MB is taken; one over 4 MB → 413", async () => {
  const log = (bytes: number) => {
    const lines = [{ at: new Date().toISOString(), stream: "stdout", text: "" }];
    const base = JSON.stringify({ lines }).length;
    lines[0].text = "y".repeat(bytes - base);
    return agent.send("POST", `/api/farm/jobs/${jobId}/log`, { lines }, { [LEASE_SECRET_HEADER]: agent.leases.get(jobId)!.leaseSecret });
  };
  const taken = await log(1024 * 1024);
  expect([taken.status, taken.statusText]).toEqual([200, "OK"]);
  const refused = await log(AGENT_LIMIT + 1);
  expect([refused.status, refused.statusText]).toEqual(TOO_LARGE(AGENT_LIMIT));
});
