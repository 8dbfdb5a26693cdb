// The free-space floor (storage.min_free_bytes): below it, uploads and build results are refused
// with 507 from their headers, before a byte of the body is read or stored, and the message says
// how much is free and which setting decides. /healthz reports the same floor.
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { AGENT_VERSION_HEADER, FakeAgent, LEASE_SECRET_HEADER, TARGETS } from "../support/farm-api.js";
import { VERSION } from "../../src/version.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { rawRequest, tokenAuth, upload } from "./requests.js";

/** More than any filesystem has free: the floor is never met. */
const FLOOR = Number.MAX_SAFE_INTEGER;
const REFUSAL = new RegExp(`^Insufficient storage: the server has \\d+ bytes free, below storage\\.min_free_bytes \\(${FLOOR}\\); try again once an administrator has freed some$`);

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer({ storage: { min_free_bytes: FLOOR } });
  token = await server.userToken("alice");
});

afterAll(() => server?.stop());

const BOUNDARY = "pydepot-test-boundary";

/** Headers of a 1 GB multipart body that never comes: only an answer from the headers can arrive. */
function headersOnly(headers: Record<string, string>): Record<string, string> {
  return { ...headers, "Content-Type": `multipart/form-data; boundary=${BOUNDARY}`, "Content-Length": String(1000 ** 3) };
}

test("an upload below the floor → 507 naming the free space and the setting, from the headers alone", async () => {
  const before = snapshot(server.services.db, server.storage);
  const answer = await rawRequest(server.uploadUrl, { method: "POST", headers: headersOnly({ Authorization: tokenAuth(token) }) });
  expect(answer.status).toBe(507);
  expect(answer.statusText).toMatch(REFUSAL);
  expect(snapshot(server.services.db, server.storage)).toEqual(before);
  expect(readdirSync(path.join(server.storage, "tmp"))).toEqual([]);
});

test("a whole twine upload below the floor → the same 507, nothing stored", async () => {
  const before = snapshot(server.services.db, server.storage);
  const answer = await upload(server, await sdist({ name: "no-room", version: "1.0" }), { auth: tokenAuth(token) });
  expect(answer.status).toBe(507);
  expect(answer.statusText).toMatch(REFUSAL);
  expect(snapshot(server.services.db, server.storage)).toEqual(before);
});

test("credentials are checked first: an anonymous upload is still a 401", async () => {
  const answer = await rawRequest(server.uploadUrl, { method: "POST", headers: headersOnly({}) });
  expect(answer.status).toBe(401);
});

test("a build result below the floor → 507 from the headers alone; the job keeps its lease", async () => {
  const built = await sdist({ name: "farm-no-room", version: "1.0" });
  const operator = { kind: "system", name: "cli:test" } as const;
  await server.services.ingest.ingest({ staged: server.services.blobs.stageBytes(built.bytes), filename: built.filename, principal: operator, origin: "import" });
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder-1", [TARGETS.wheel311]);
  // The target is new, so a background pass plans the sdist: wait for it.
  const job = (await agent.lease(10))!;
  expect(job).not.toBeNull();
  const before = snapshot(server.services.db, server.storage);
  const answer = await rawRequest(`${server.url}/api/farm/jobs/${job.id}/result`, {
    method: "POST",
    headers: headersOnly({ Authorization: `Bearer ${agent.token}`, [LEASE_SECRET_HEADER]: job.leaseSecret, [AGENT_VERSION_HEADER]: VERSION }),
  });
  expect(answer.status).toBe(507);
  expect(answer.statusText).toMatch(REFUSAL);
  expect(snapshot(server.services.db, server.storage)).toEqual(before);
});

test("/healthz reports the same floor: 503", async () => {
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status).toBe(503);
  expect((await health.json()).storage.minFreeBytes).toBe(FLOOR);
});
