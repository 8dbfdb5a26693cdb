// /metrics as Prometheus reads it (parsed by a text-format parser, not by regular expressions) and
// /healthz as a load balancer reads it, after real traffic: uploads, index pages (the fast path
// and Express), downloads, a build leased and finished by an agent, a check verdict.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel, type Artifact } from "../support/artifacts.js";
import { FakeAgent, TARGETS } from "../support/farm-api.js";
import { parsePrometheusText, promFamily, promSample, type PromFamily } from "../support/prometheus.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { get, publish, tokenAuth } from "../http/requests.js";

let server: TestServer;
let token: string;
let uploaded: Artifact[];

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
  uploaded = [await wheel({ name: "metered", version: "1.0" }), await sdist({ name: "metered", version: "2.0" })];
  await publish(server, token, ...uploaded);
  for (let round = 0; round < 3; round++) {
    expect((await get(`${server.index}`)).status).toBe(200);
    expect((await get(`${server.index}metered/`)).status).toBe(200);
  }
  expect((await get(`${server.url}/files/metered/${uploaded[0].filename}`)).status).toBe(200);
  expect((await get(`${server.url}/no/such/thing`)).status).toBe(404);
  // A build from lease to result: the sdist of 2.0 for one wheel target.
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder-1", [TARGETS.wheel311]);
  await server.services.planning.idle(); // the new target's jobs for the sdists stored before it
  const job = await agent.lease();
  expect(job?.project).toBe("metered");
  expect((await agent.result(job!.id, { status: "failed", reason: "compiler missing" })).status).toBe(200);
  // A verdict as the checker records it.
  const checks = server.services.stores.checks;
  const fileId = server.services.stores.files.byFilename(uploaded[0].filename)!.id;
  const checkId = checks.insert(fileId, "new", new Date().toISOString());
  expect(checks.start(checkId, "clean-1", "/usr/bin/python3.11", "not a credential's hash", new Date().toISOString())).toBe(true);
  checks.finish(checkId, { status: "verified", cause: "", missingRequirement: "", smoke: null, reason: "", log: "", modules: [], missingLibraries: [], degraded: false, durationMs: 5 }, new Date().toISOString());
});

afterAll(() => server?.stop());

async function scrape(): Promise<PromFamily[]> {
  const answer = await get(`${server.url}/metrics`);
  expect(answer.status, answer.body).toBe(200);
  expect(answer.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(answer.body);
}

describe("/metrics", () => {
  test("counts requests by route and status in a latency histogram", async () => {
    const families = await scrape();
    expect(promFamily(families, "pydepot_http_request_duration_seconds").type).toBe("histogram");
    expect(promSample(families, "pydepot_http_request_duration_seconds_count", { route: "/simple/", status: "200" })).toBe(3);
    expect(promSample(families, "pydepot_http_request_duration_seconds_count", { route: "/simple/:project/", status: "200" })).toBe(3);
    expect(promSample(families, "pydepot_http_request_duration_seconds_count", { route: "/files/:project/:filename", status: "200" })).toBe(1);
    expect(promSample(families, "pydepot_http_request_duration_seconds_count", { route: "/legacy", status: "200" })).toBe(2);
    expect(promSample(families, "pydepot_http_request_duration_seconds_count", { route: "unmatched", status: "404" })).toBe(1);
    expect(promSample(families, "pydepot_http_request_duration_seconds_bucket", { route: "/simple/:project/", status: "200", le: "+Inf" })).toBe(3);
    expect(promSample(families, "pydepot_http_request_duration_seconds_sum", { route: "/simple/:project/", status: "200" })).toBeGreaterThan(0);
  });

  test("upload bytes, page-cache hits, queue lengths, agents, build durations, verdicts, nodes, free disk", async () => {
    const families = await scrape();
    const bytes = uploaded.reduce((sum, artifact) => sum + artifact.bytes.length, 0);
    expect(promSample(families, "pydepot_accepted_file_bytes_total", { origin: "upload" })).toBe(bytes);
    // Three requests per page. /simple/ was rendered into the cache for the page files at the
    // upload's commit (not counted as a request), so all three are hits; the project page is
    // rendered by its first request and the other two are answered from the cache.
    expect(promSample(families, "pydepot_page_cache_requests_total", { result: "hit" })).toBe(5);
    expect(promSample(families, "pydepot_page_cache_requests_total", { result: "miss" })).toBe(1);
    expect(promSample(families, "pydepot_build_jobs", { status: "failed" })).toBe(1);
    expect(promSample(families, "pydepot_agents", { state: "online" })).toBe(1);
    expect(promSample(families, "pydepot_agents", { state: "offline" })).toBe(0);
    expect(promSample(families, "pydepot_build_duration_seconds_count", { status: "failed" })).toBe(1);
    expect(promSample(families, "pydepot_check_verdicts_total", { interpreter: "/usr/bin/python3.11", verdict: "verified" })).toBe(1);
    expect(promSample(families, "pydepot_checks", { status: "verified" })).toBe(1);
    expect(promSample(families, "pydepot_nodes", { state: "healthy" })).toBe(0);
    expect(promSample(families, "pydepot_storage_free_bytes")).toBeGreaterThan(0);
  });

  test("a build is observed once, however often Prometheus scrapes", async () => {
    await scrape();
    const families = await scrape();
    expect(promSample(families, "pydepot_build_duration_seconds_count", { status: "failed" })).toBe(1);
  });
});

describe("/healthz", () => {
  test("says the database and storage are writable, with free space, agents and jobs", async () => {
    const answer = await get(`${server.url}/healthz`);
    expect(answer.status, answer.body).toBe(200);
    const health = JSON.parse(answer.body);
    expect(health).toMatchObject({
      ok: true,
      database: { writable: true },
      storage: { writable: true, minFreeBytes: 1024 ** 3 },
      agents: { registered: 1, online: 1 },
      nodes: { configured: 0, healthy: 0 },
      jobs: { failed: 1 },
    });
    expect(health.storage.freeBytes).toBeGreaterThan(0);
  });

  test("a flood of anonymous asks shares the write probes: each waits for an fsync on the event loop, and held every other request", async () => {
    const flooded = await startTestServer();
    try {
      const writes = () => flooded.services.db.prepare("SELECT total_changes()").pluck().get() as number;
      const before = writes();
      const answers = await Promise.all(Array.from({ length: 50 }, () => get(`${flooded.url}/healthz`)));
      expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
      // One probe a second: a slow machine may straddle a second or two.
      expect(writes() - before).toBeLessThanOrEqual(3);
    } finally {
      await flooded.stop();
    }
  });

  test("answers 503 when the storage has less free space than storage.min_free_bytes", async () => {
    const full = await startTestServer({ storage: { min_free_bytes: Number.MAX_SAFE_INTEGER } });
    try {
      const answer = await get(`${full.url}/healthz`);
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({ ok: false, database: { writable: true }, storage: { writable: true } });
    } finally {
      await full.stop();
    }
  });
});

describe("clean nodes", () => {
  test("configured nodes are healthy once their last contact went well, in /healthz and /metrics", async () => {
    const node = { name: "clean-1", host: "127.0.0.1", port: 1, user: "checker", private_key_file: "/nonexistent", host_key: `SHA256:${"A".repeat(43)}`, interpreters: ["/usr/bin/python3"], parallel: 1, allow_root_login: false, exclusive_login: false };
    const withNodes = await startTestServer({ nodes: [node, { ...node, name: "clean-2" }] });
    try {
      const nodes = async () => {
        const families = parsePrometheusText((await get(`${withNodes.url}/metrics`)).body);
        const health = JSON.parse((await get(`${withNodes.url}/healthz`)).body);
        return { healthz: health.nodes, healthy: promSample(families, "pydepot_nodes", { state: "healthy" }), unhealthy: promSample(families, "pydepot_nodes", { state: "unhealthy" }) };
      };
      expect(await nodes()).toEqual({ healthz: { configured: 2, healthy: 0 }, healthy: 0, unhealthy: 2 });
      withNodes.services.stores.checks.saveHealth("clean-1", true, "", new Date().toISOString());
      withNodes.services.stores.checks.saveHealth("clean-2", false, "connection refused", new Date().toISOString());
      expect(await nodes()).toEqual({ healthz: { configured: 2, healthy: 1 }, healthy: 1, unhealthy: 1 });
    } finally {
      await withNodes.stop();
    }
  });
});

describe("/healthz when something is wrong", () => {
  test("a database that refuses writes and a storage folder that cannot be written: 503, each named", async () => {
    const broken = await startTestServer();
    try {
      broken.services.db.pragma("query_only = ON");
      rmSync(join(broken.storage, "tmp"), { recursive: true });
      const answer = await get(`${broken.url}/healthz`);
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({
        ok: false,
        database: { writable: false, error: "SQLITE_READONLY" },
        storage: { writable: false, error: "ENOENT" },
      });
    } finally {
      broken.services.db.pragma("query_only = OFF");
      mkdirSync(join(broken.storage, "tmp"));
      await broken.stop();
    }
  });
});

describe("who may scrape", () => {
  test("with anonymous reads off, /metrics needs a token and /healthz does not", async () => {
    const closed = await startTestServer({ access: { anonymous_read: false } });
    try {
      expect((await get(`${closed.url}/metrics`)).status).toBe(401);
      expect((await get(`${closed.url}/metrics`, { auth: tokenAuth(await closed.userToken("prometheus")) })).status).toBe(200);
      expect((await get(`${closed.url}/healthz`)).status).toBe(200);
    } finally {
      await closed.stop();
    }
  });
});
