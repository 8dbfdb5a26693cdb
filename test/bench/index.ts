// The index scenarios: pages side by side with Debian's nginx (2,000 projects through ingest, and
// 100,000 files through the stores), start-up time, and one 200 MiB upload with the server's
// memory watched.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ensureTools } from "./debian.js";
import { fmt, log } from "./machine.js";
import { startNginx, startPydepotNginx } from "./nginx.js";
import { createUploader, openServices, plan, populateByIngest, populateByStores, type Population } from "./populate.js";
import type { Row } from "./report.js";
import { startServer, type ServerProcess } from "./server.js";
import { measureUpload, upload } from "./upload.js";
import { wheelBytes, wheelFilename, writeBigWheel } from "./wheels.js";
import { runWrk, type LoadOptions, type LoadResult } from "./wrk.js";

export type Tools = ReturnType<typeof ensureTools>;

export interface IndexResult {
  notes: string[];
  rows: Row[];
}

const PROJECTS = 2000;
const FILES_PER_PAGE = 50;
const UPLOAD_PAYLOAD_BYTES = 200 * 1024 ** 2;
const WARM_UP_SECONDS = 2;

const load: LoadOptions = {
  threads: Number(process.env.BENCH_THREADS ?? 2),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
};

/** What the pages rows mean: the load, the tools, and who serves what. */
function pagesNotes(tools: Tools): string[] {
  const firstLine = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { encoding: "utf8" });
    return `${result.stdout}${result.stderr}`.trim().split("\n")[0].replace(/ Copyright.*/, "");
  };
  return [
    `${firstLine(tools.nginx, ["-v"])}; ${firstLine(tools.wrk, ["-v"])}.`,
    `Load: \`wrk -t${load.threads} -c${load.connections} -d${load.seconds}s --latency\` on 127.0.0.1, after a ${WARM_UP_SECONDS} s` +
      " warm-up of pydepot; wrk, the server under test and nginx share the machine's cores.",
    "pydepot runs as `node dist/main.js serve` in its own process; nginx (worker_processes auto, access_log off) serves" +
      " the very bytes pydepot served, as static index.html files.",
    "\"behind nginx\": nginx (same binary) on the config `pydepot nginx-config --full` renders, serving pydepot's page files;" +
      " \"tcp_nopush flipped\" is that config with every tcp_nopush turned the other way (a bench-only edit), to measure the setting.",
  ];
}

/** 2,000 projects (one with 50 files) through the real ingest; pages vs nginx. */
export async function pagesScenario(tools: Tools, work: string): Promise<IndexResult> {
  const storage = path.join(work, "storage");
  const specs = plan(PROJECTS, 1, FILES_PER_PAGE);
  log(`pages: populating ${specs.length} files in ${PROJECTS} projects through ingest`);
  const services = openServices(storage);
  const population = await populateByIngest(services, specs).finally(() => services.close());
  const server = await startServer(storage);
  try {
    const rows = [
      populationRow(`populate ${fmt(population.files, 0)} files / ${fmt(population.projects, 0)} projects via ingest`, population),
      ...startupRows(`start-up, ${fmt(population.files, 0)} files`, [server]),
      ...(await comparePages(tools, server, population, storage, work, "")),
    ];
    return { notes: pagesNotes(tools), rows };
  } finally {
    await server.stop();
  }
}

/** 2,000 projects × 50 files: start-up time and pages again. */
export async function largeScenario(tools: Tools, work: string): Promise<IndexResult> {
  const storage = path.join(work, "storage");
  const specs = plan(PROJECTS, FILES_PER_PAGE);
  log(`100k: populating ${specs.length} files in ${PROJECTS} projects through the stores (bench-only shortcut)`);
  const services = openServices(storage);
  const population = await populateByStores(services, specs).finally(() => services.close());
  const starts: ServerProcess[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const server = await startServer(storage);
    starts.push(server);
    log(`100k: start ${attempt}: listening after ${fmt(server.listeningMs)} ms, first /simple/ after ${fmt(server.firstPageMs)} ms`);
    if (attempt < 3) await server.stop();
  }
  const server = starts[starts.length - 1];
  try {
    const rows = [
      populationRow(`populate ${fmt(population.files, 0)} files / ${fmt(population.projects, 0)} projects via stores (shortcut)`, population),
      ...startupRows(`start-up, ${fmt(population.files, 0)} files (median of 3)`, starts),
      ...(await comparePages(tools, server, population, storage, work, "100k: ")),
    ];
    const shortcut =
      "The 100k rows are written through the stores in one transaction (a bench-only shortcut: ingest, one transaction" +
      " and several fsyncs per file, is far slower); the pages scenario uses the real ingest.";
    return { notes: [shortcut, ...pagesNotes(tools)], rows };
  } finally {
    await server.stop();
  }
}

/** What pip ≥ 22.2 sends for index pages. */
const PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
/** nginx's own validator ("<mtime>-<size>" in hex, weak when gzipped): the page came from a file, not from pydepot. */
const NGINX_ETAG = /^(?:W\/)?"[0-9a-f]+-[0-9a-f]+"$/;

interface BenchPage {
  label: string;
  urlPath: string;
  accept?: string;
  /** Where static nginx serves the same bytes (as an index.html). */
  staticPath: string;
  /** Also measured over one connection (the largest page: where tcp_nopush shows). */
  oneConnection?: boolean;
}

/** Which tcp_nopush each run of pydepot's nginx config measures: as rendered, and flipped (bench-only edit). */
const NOPUSH_VARIANTS: { name: string; edit: (config: string) => string }[] = [
  { name: "as rendered", edit: (config) => config },
  { name: "tcp_nopush flipped", edit: (config) => config.replace(/tcp_nopush (on|off);/g, (_whole, value: string) => `tcp_nopush ${value === "on" ? "off" : "on"};`) },
];

/**
 * The same page bytes from pydepot alone, from nginx (static files) and from nginx on the config
 * `pydepot nginx-config` renders (pages from pydepot's page files), under the same wrk load.
 */
async function comparePages(tools: Tools, server: ServerProcess, population: Population, storage: string, work: string, prefix: string): Promise<Row[]> {
  const project = population.bigProject;
  const pages: BenchPage[] = [
    { label: `${prefix}/simple/<project>/ (${FILES_PER_PAGE} files)`, urlPath: `/simple/${project}/`, staticPath: `/simple/${project}/` },
    { label: `${prefix}/simple/<project>/ (${FILES_PER_PAGE} files), PEP 691 JSON`, urlPath: `/simple/${project}/`, accept: PIP_ACCEPT, staticPath: `/json/${project}/` },
    { label: `${prefix}/simple/ (${fmt(population.projects, 0)} projects)`, urlPath: "/simple/", staticPath: "/simple/", oneConnection: true },
  ];
  const bodies = await Promise.all(pages.map(async (page) => ({ ...page, body: await fetchOk(`${server.url}${page.urlPath}`, page.accept) })));
  const loadOf = (page: BenchPage, seconds = load.seconds): LoadOptions => ({ ...load, seconds, headers: page.accept ? [`Accept: ${page.accept}`] : [] });
  // Every server runs from the start and each page is measured on all of them back to back, so a
  // change in the machine's load (shared cores) falls on all columns of a row alike.
  const nginx = await startNginx(tools.nginx, bodies.map((page) => ({ urlPath: page.staticPath, body: page.body })), work);
  const proxies: Awaited<ReturnType<typeof startPydepotNginx>>[] = [];
  try {
    for (const variant of NOPUSH_VARIANTS) proxies.push(await startPydepotNginx(tools.nginx, storage, server.url, work, variant.edit));
    const rows: Row[] = [];
    for (const page of bodies) {
      log(`${page.label}: ${fmt(page.body.length / 1024)} KiB; wrk -t${load.threads} -c${load.connections} -d${load.seconds}s`);
      if (!(await fetchOk(`${nginx.url}${page.staticPath}`)).equals(page.body)) throw new Error(`nginx does not serve the same bytes for ${page.staticPath}`);
      for (const proxy of proxies) await expectFromPageFile(`${proxy.url}${page.urlPath}`, page);
      // A wrk failure is most likely the server's death: say so, with its output.
      const loadPydepot = (options: LoadOptions) => runWrk(tools.wrk, `${server.url}${page.urlPath}`, options).finally(() => server.assertAlive());
      await loadPydepot(loadOf(page, WARM_UP_SECONDS));
      const alone = report(page.label, "pydepot", await loadPydepot(loadOf(page)));
      const statics = report(page.label, "nginx static", await runWrk(tools.wrk, `${nginx.url}${page.staticPath}`, loadOf(page)));
      rows.push(...versusStatic(page.label, alone, statics, 0.5, 10));
      for (const [order, variant] of NOPUSH_VARIANTS.entries()) {
        const url = `${proxies[order].url}${page.urlPath}`;
        const behind = report(page.label, `pydepot behind nginx, ${variant.name}`, await runWrk(tools.wrk, url, loadOf(page)));
        rows.push(...versusStatic(`${page.label} behind nginx (${variant.name})`, behind, statics, order === 0 ? 0.9 : null, order === 0 ? 5 : null));
      }
      if (page.oneConnection) rows.push(...(await oneConnectionRows(tools, page, `${nginx.url}${page.staticPath}`, proxies.map((proxy) => `${proxy.url}${page.urlPath}`))));
    }
    return rows;
  } finally {
    for (const proxy of proxies) await proxy.stop();
    await nginx.stop();
  }
}

/**
 * One connection, one request at a time: where a send that waits for more data shows (tcp_nopush
 * on stalled an 84 kB page by 40 ms, a delayed ACK), which 32 busy connections hide.
 */
async function oneConnectionRows(tools: Tools, page: BenchPage, staticUrl: string, proxyUrls: string[]): Promise<Row[]> {
  const single: LoadOptions = { threads: 1, connections: 1, seconds: load.seconds, headers: page.accept ? [`Accept: ${page.accept}`] : [] };
  const statics = report(`${page.label}, one connection`, "nginx static", await runWrk(tools.wrk, staticUrl, single));
  const rows: Row[] = [];
  for (const [order, variant] of NOPUSH_VARIANTS.entries()) {
    const behind = report(`${page.label}, one connection`, `pydepot behind nginx, ${variant.name}`, await runWrk(tools.wrk, proxyUrls[order], single));
    rows.push(...versusStatic(`${page.label} behind nginx (${variant.name}), one connection`, behind, statics, null, null));
  }
  return rows;
}

/** The page through pydepot's nginx config must be the bytes pydepot sends, from its page file (nginx's ETag). */
async function expectFromPageFile(url: string, page: BenchPage & { body: Buffer }): Promise<void> {
  const response = await fetch(url, { headers: page.accept ? { Accept: page.accept } : {} });
  const body = Buffer.from(await response.arrayBuffer());
  if (!body.equals(page.body)) throw new Error(`${url}: nginx does not serve pydepot's bytes`);
  if (!NGINX_ETAG.test(response.headers.get("etag") ?? "")) throw new Error(`${url}: answered by pydepot, not from the page file (ETag ${response.headers.get("etag")})`);
}

function report(label: string, name: string, result: LoadResult): LoadResult {
  log(`${label}: ${name}: ${fmt(result.requestsPerSecond, 0)} requests/s, p50 ${fmt(result.p50Ms, 2)} ms, p99 ${fmt(result.p99Ms, 2)} ms${result.errors ? `; ${result.errors}` : ""}`);
  return result;
}

/** Two rows, requests/s and latency against nginx static; a null target is a measurement only. */
function versusStatic(label: string, ours: LoadResult, theirs: LoadResult, minRatio: number | null, maxP99Ms: number | null): Row[] {
  const ratio = ours.requestsPerSecond / theirs.requestsPerSecond;
  const errors = (result: LoadResult) => (result.errors ? ` (${result.errors})` : "");
  return [
    {
      scenario: `${label}: requests/s`,
      pydepot: fmt(ours.requestsPerSecond, 0) + errors(ours),
      nginx: fmt(theirs.requestsPerSecond, 0) + errors(theirs),
      ratio: fmt(ratio, 2),
      target: minRatio === null ? "—" : `≥ ${fmt(minRatio, 2)} ${ratio >= minRatio ? "(met)" : "(missed)"}`,
    },
    {
      scenario: `${label}: p99 latency (p50)`,
      pydepot: `${fmt(ours.p99Ms, 2)} ms (${fmt(ours.p50Ms, 2)})`,
      nginx: `${fmt(theirs.p99Ms, 2)} ms (${fmt(theirs.p50Ms, 2)})`,
      ratio: fmt(ours.p99Ms / theirs.p99Ms, 2),
      target: maxP99Ms === null ? "—" : `< ${maxP99Ms} ms ${ours.p99Ms < maxP99Ms ? "(met)" : "(missed)"}`,
    },
  ];
}

/**
 * One 200 MiB wheel uploaded to two fresh servers (sha256_digest only, then with blake2_256_digest
 * too) while the server's RSS is watched; each server first takes a small warm-up upload.
 */
export async function uploadScenario(work: string): Promise<IndexResult> {
  mkdirSync(work, { recursive: true });
  const spec = { project: "bench-big", version: "1.0.0" };
  log(`upload: writing a ${UPLOAD_PAYLOAD_BYTES / 1024 ** 2} MiB wheel`);
  const wheel = await writeBigWheel(path.join(work, wheelFilename(spec)), spec, UPLOAD_PAYLOAD_BYTES, true);
  const rows: Row[] = [];
  for (const withBlake2 of [false, true]) {
    const label = `upload ${UPLOAD_PAYLOAD_BYTES / 1024 ** 2} MiB wheel, sha256_digest${withBlake2 ? " + blake2_256_digest" : ""}`;
    const storage = path.join(work, withBlake2 ? "storage-blake2" : "storage");
    const services = openServices(storage);
    const token = await createUploader(services).finally(() => services.close());
    const server = await startServer(storage);
    try {
      await warmUpUpload(server, token, work);
      const measure = await measureUpload(server, token, { ...wheel, ...spec, blake2b256: withBlake2 ? wheel.blake2b256 : null });
      server.assertAlive();
      log(`${label}: HTTP ${measure.status} in ${fmt(measure.seconds, 2)} s; RSS ${fmt(measure.baselineMiB)} → peak ${fmt(measure.peakMiB)} MiB (sampled max ${fmt(measure.sampledMaxMiB)})`);
      const failed = measure.status === 200 ? "" : ` (HTTP ${measure.status}: ${measure.body})`;
      const growth = measure.peakMiB - measure.baselineMiB;
      rows.push(
        {
          scenario: `${label}: server RSS growth (VmHWM − baseline)`,
          pydepot: `${fmt(growth)} MiB (${fmt(measure.baselineMiB)} → ${fmt(measure.peakMiB)})${failed}`,
          nginx: "—",
          ratio: "—",
          target: `< 64 MiB ${growth < 64 ? "(met)" : "(missed)"}`,
        },
        { scenario: `${label}: throughput`, pydepot: `${fmt(measure.mibPerSecond)} MiB/s (${fmt(measure.seconds, 2)} s)${failed}`, nginx: "—", ratio: "—", target: "—" },
      );
    } finally {
      await server.stop();
      rmSync(storage, { recursive: true, force: true });
    }
  }
  rmSync(wheel.path);
  const notes = [
    "pydepot runs as `node dist/main.js serve` in its own process; the wheel (one stored member of random bytes) is streamed" +
      " from disk as twine sends it, after a small warm-up upload; the server's RSS is read from /proc (VmHWM reset just before).",
  ];
  return { notes, rows };
}

/** A small upload first, so the baseline is a server that has loaded and run its upload code. */
async function warmUpUpload(server: ServerProcess, token: string, work: string): Promise<void> {
  const spec = { project: "bench-warm-up", version: "1.0.0" };
  const bytes = await wheelBytes(spec);
  const file = path.join(work, wheelFilename(spec));
  writeFileSync(file, bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const answer = await upload(server.url, token, { path: file, filename: wheelFilename(spec), ...spec, sha256, blake2b256: null });
  if (answer.status !== 200) throw new Error(`warm-up upload failed: ${answer.status} ${answer.body}`);
}

function populationRow(scenario: string, population: Population): Row {
  const rate = population.files / population.seconds;
  return { scenario, pydepot: `${fmt(population.seconds)} s (${fmt(rate, 0)} files/s)`, nginx: "—", ratio: "—", target: "—" };
}

function startupRows(label: string, servers: ServerProcess[]): Row[] {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return [
    { scenario: `${label}: spawn → listening`, pydepot: `${fmt(median(servers.map((server) => server.listeningMs)), 0)} ms`, nginx: "—", ratio: "—", target: "—" },
    { scenario: `${label}: spawn → first GET /simple/ 200`, pydepot: `${fmt(median(servers.map((server) => server.firstPageMs)), 0)} ms`, nginx: "—", ratio: "—", target: "—" },
  ];
}

async function fetchOk(url: string, accept?: string): Promise<Buffer> {
  const response = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}
