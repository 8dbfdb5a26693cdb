// ui: the server time of each web UI page with 2,000 projects and 100,000 files (issue 10: every
// page under 50 ms). The files go in through the stores (bench-only shortcut, as for `100k`); one
// agent's target gives the biggest project's newest release a build job, and one check is queued
// for its wheel, so the matrix, job and check pages show real rows. The server runs in its own
// process; each page is fetched one request at a time, so each figure is one page's own time.
import path from "node:path";
import { parseProjectName } from "../../src/core/names.js";
import { basicAuth } from "../support/server.js";
import { TARGETS } from "../support/farm-api.js";
import { registerAgents } from "./farm.js";
import { fmt, log, percentile } from "./machine.js";
import { createUploader, openServices, plan, populateByStores, populateSdistsByStores, projectName } from "./populate.js";
import { verdict, type ScenarioResult } from "./report.js";
import { startServer } from "./server.js";

const PROJECTS = 2_000;
const FILES_PER_PROJECT = 50;
/** The biggest project's page: 500 versions. */
const BIG_PROJECT_FILES = 500;
const REQUESTS = Number(process.env.BENCH_UI_REQUESTS ?? 100);
const TARGET_MS = 50;

export async function uiScenario(work: string): Promise<ScenarioResult> {
  const storage = path.join(work, "storage");
  const services = openServices(storage);
  let token: string;
  let jobId: number;
  let checkId: number;
  const big = projectName(0);
  const newest = `1.0.${BIG_PROJECT_FILES - 1}`;
  try {
    log(`ui: ${PROJECTS} projects, ${fmt(FILES_PER_PROJECT * (PROJECTS - 1) + BIG_PROJECT_FILES, 0)} files through the stores (bench-only shortcut)`);
    await populateByStores(services, plan(PROJECTS, FILES_PER_PROJECT, BIG_PROJECT_FILES));
    token = await createUploader(services);
    registerAgents(services, services.agents.createEnrolment("bench", "bench"), 1, TARGETS.wheel311, "bench-ui-agent");
    await populateSdistsByStores(services, [{ project: big, version: newest }]);
    services.planning.plan();
    jobId = services.stores.jobs.list({}, "all")[0].id;
    const wheel = services.stores.files.liveByProject(services.stores.projects.byName(parseProjectName(big))!.id).find((file) => file.version === newest && file.kind === "wheel")!;
    checkId = services.stores.checks.insert(wheel.id, "manual", new Date().toISOString());
  } finally {
    services.close();
  }
  const server = await startServer(storage);
  try {
    const auth = basicAuth("__token__", token);
    // [label, path, route pattern as /metrics labels it, credentials]
    const pages: [string, string, string, string?][] = [
      ["home (recent uploads, builds, failures, holds)", "/ui/", "/ui/"],
      ["home with a search matching every project", "/ui/?q=bench", "/ui/"],
      [`project page, ${BIG_PROJECT_FILES} releases`, `/ui/projects/${big}`, "/ui/projects/:project"],
      [`project page, ${FILES_PER_PROJECT} releases`, `/ui/projects/${projectName(PROJECTS - 1)}`, "/ui/projects/:project"],
      ["release matrix", `/ui/projects/${big}/releases/${newest}`, "/ui/projects/:project/releases/:version"],
      ["job page", `/ui/jobs/${jobId}`, "/ui/jobs/:id"],
      ["check page", `/ui/checks/${checkId}`, "/ui/checks/:id"],
      ["agents (site admin)", "/ui/agents", "/ui/agents", auth],
      ["nodes", "/ui/nodes", "/ui/nodes"],
    ];
    const rows = [];
    for (const [label, page, route, authorization] of pages) {
      const before = await serverSeconds(server.url, route);
      const times = await timePage(`${server.url}${page}`, authorization);
      const after = await serverSeconds(server.url, route);
      // The server's own time per answer (/metrics: request in → last byte handed to the socket), without the client's share.
      const serverMs = ((after.sum - before.sum) / (after.count - before.count)) * 1000;
      const p99 = percentile(times, 0.99);
      log(`ui: ${label}: server mean ${fmt(serverMs, 2)} ms; round trip median ${fmt(percentile(times, 0.5), 2)} ms, p99 ${fmt(p99, 2)} ms`);
      rows.push({
        scenario: `${label}: server mean; round trip median, p99`,
        result: `${fmt(serverMs, 2)} ms; ${fmt(percentile(times, 0.5), 2)} ms, ${fmt(p99, 2)} ms`,
        target: verdict(`server < ${TARGET_MS} ms`, serverMs < TARGET_MS),
      });
    }
    server.assertAlive();
    return {
      notes: [
        `${PROJECTS} projects and ${fmt(FILES_PER_PROJECT * (PROJECTS - 1) + BIG_PROJECT_FILES, 0)} wheels written through the stores (bench-only shortcut); one agent target, one build job and one queued check.`,
        `Each page fetched ${REQUESTS} times one after another over loopback by this process (\`pydepot serve\` runs in its own), after 5 unmeasured requests. Server mean: the server's own histogram (\`/metrics\`, request in → last byte handed to the socket) over those requests; round trip: request sent → last byte read here, the client's share and the machine's scheduling included.`,
      ],
      rows,
    };
  } finally {
    await server.stop();
  }
}

/** The request-duration histogram's sum and count for one route (200 answers) from /metrics. */
async function serverSeconds(baseUrl: string, route: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const value = (suffix: string) => {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`pydepot_http_request_duration_seconds_${suffix}{`) && candidate.includes(`route="${route}"`) && candidate.includes('status="200"'));
    return line ? Number(line.split(" ").at(-1)) : 0;
  };
  return { sum: value("sum"), count: value("count") };
}

async function timePage(url: string, authorization?: string): Promise<number[]> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const fetchOnce = async () => {
    const started = performance.now();
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${response.statusText}`);
    return performance.now() - started;
  };
  for (let warm = 0; warm < 5; warm++) await fetchOnce();
  const times: number[] = [];
  for (let index = 0; index < REQUESTS; index++) times.push(await fetchOnce());
  return times;
}
