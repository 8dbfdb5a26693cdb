// Index pages side by side, interleaved round by round so the shared machine's noise falls on every
// server alike: pydepot alone, nginx on the config `pydepot nginx-config --full` renders (serving
// pydepot's page files), and the same bytes as plain static files from a location added to that
// very nginx server (same build, same workers, same server settings: the reference).
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fmt, log, median, processTreeCpuSeconds } from "./machine.js";
import { startPydepotNginx, type Nginx } from "./nginx.js";
import type { Population } from "./populate.js";
import type { Row } from "./report.js";
import type { ServerProcess } from "./server.js";
import { runWrk, type LoadOptions, type LoadResult } from "./wrk.js";

export interface PagesLoad {
  threads: number;
  connections: number;
  /** One wrk run per server, page and round. */
  seconds: number;
  rounds: number;
}

/** What pip ≥ 22.2 sends for index pages. */
export const PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
const WARM_UP_SECONDS = 2;
/** The reference's URL prefix: a location only the bench adds, matched before the pages' regex location. */
const REFERENCE_PREFIX = "/_reference/";

/**
 * Bench-only edits of the rendered config, each run as its own nginx beside the shipped one, to
 * measure one setting of the pages' location against the same reference in the same rounds.
 * BENCH_PAGES_VARIANTS=name,… picks them (none by default).
 */
const VARIANTS: Record<string, (config: string) => string> = {
  "sendfile on": inPages("sendfile off;", "sendfile on;"),
  "sendfile and tcp_nopush on": inPages("sendfile off;", "sendfile on; tcp_nopush on;"),
  "gzip_vary on": inPages("gzip_vary off;", "gzip_vary on;"),
  "gzip_static off": inPages("gzip_static on;", "gzip_static off;"),
  "etag off": inPages("etag on;", "etag off;"),
  "charset off": inPages("charset utf-8;", ""),
  "no add_header": inPages('add_header Vary "Accept-Encoding, Accept, Authorization";', "", 'add_header Cache-Control "no-cache";', ""),
  "no map (index.html always)": inPages("rewrite ^ $uri$pydepot_page break;", "rewrite ^ $uri/index.html break;"),
  open_file_cache: inPages("gzip_static on;", "gzip_static on; open_file_cache max=10000 inactive=60s; open_file_cache_valid 1s;"),
  // try_files only finds <uri>index.html or <uri>index.json, so a prefix serves no other file.
  "prefix location": prefixLocation,
  try_files: inPages("rewrite ^ $uri$pydepot_page break;", "try_files $uri$pydepot_page @pydepot;"),
};

function prefixLocation(config: string): string {
  return replaceOnce(config, 'location ~ "^/simple/(?:[a-z0-9]+(?:-[a-z0-9]+)*/)?$" {', "location ^~ /simple/ {");
}


/** An edit of the pages' location only: each (search, replacement) pair must match there exactly once. */
function inPages(...pairs: string[]): (config: string) => string {
  return (config) => {
    const start = Math.max(config.indexOf('location ~ "^/simple/'), config.indexOf("location ^~ /simple/"));
    const end = config.indexOf("}", config.indexOf("}", start) + 1); // the location's own "}" follows the types { } block's
    if (start < 0 || end < 0) throw new Error("bench config edit: no pages location in the rendered nginx config");
    let block = config.slice(start, end);
    for (let index = 0; index < pairs.length; index += 2) block = replaceOnce(block, pairs[index], pairs[index + 1]);
    return config.slice(0, start) + block + config.slice(end);
  };
}

interface BenchPage {
  label: string;
  urlPath: string;
  accept?: string;
  /** One connection, one request at a time: where a send that waits for more data shows (tcp_nopush). */
  oneConnection?: boolean;
}

interface Contender {
  name: string;
  url: (page: BenchPage) => string;
  /** The serving process (nginx's master, whose children are the workers): its CPU time per request is counted. */
  pid: number;
  /** Targets of its comparison with the reference; null: a measurement only. */
  minRatio: number | null;
  maxP99Ms: number | null;
}

/**
 * The pages of the population's largest project (HTML and PEP 691 JSON) and /simple/ (both, and
 * HTML over one connection), each measured `rounds` times on every contender in turn.
 */
export async function comparePages(tools: { wrk: string; nginx: string }, server: ServerProcess, population: Population & { pageFiles: number }, storage: string, work: string, load: PagesLoad, prefix: string): Promise<Row[]> {
  const project = `/simple/${population.bigProject}/`;
  const files = `${population.pageFiles} files`;
  const pages: BenchPage[] = [
    { label: `${prefix}/simple/<project>/ (${files})`, urlPath: project },
    { label: `${prefix}/simple/<project>/ (${files}), PEP 691 JSON`, urlPath: project, accept: PIP_ACCEPT },
    { label: `${prefix}/simple/ (${fmt(population.projects, 0)} projects)`, urlPath: "/simple/" },
    { label: `${prefix}/simple/ (${fmt(population.projects, 0)} projects), PEP 691 JSON`, urlPath: "/simple/", accept: PIP_ACCEPT },
    { label: `${prefix}/simple/ (${fmt(population.projects, 0)} projects), one connection`, urlPath: "/simple/", oneConnection: true },
  ];
  const bodies = await Promise.all(pages.map(async (page) => ({ ...page, body: await fetchOk(`${server.url}${page.urlPath}`, page.accept) })));
  // One file per distinct body, at /_reference/<n>: a plain file URL, no index lookup.
  const referencePath = (page: BenchPage) => `${REFERENCE_PREFIX}${pages.findIndex((other) => other.urlPath === page.urlPath && other.accept === page.accept)}`;
  const referenceRoot = path.join(work, "reference");
  writeReference(referenceRoot, bodies.map((page) => ({ file: path.basename(referencePath(page)), body: page.body })));
  const withReference = (config: string) => replaceOnce(config, "server_tokens off;", `server_tokens off;\n        location ^~ ${REFERENCE_PREFIX} { root "${referenceRoot}"; }`);
  const variants = chosenVariants();
  const nginxes: Nginx[] = [];
  try {
    const shipped = await startPydepotNginx(tools.nginx, storage, server.url, work, withReference);
    nginxes.push(shipped);
    const contenders: Contender[] = [
      { name: "nginx static", url: (page) => `${shipped.url}${referencePath(page)}`, pid: shipped.pid, minRatio: null, maxP99Ms: null },
      { name: "pydepot", url: (page) => `${server.url}${page.urlPath}`, pid: server.pid, minRatio: 0.5, maxP99Ms: 10 },
      { name: "pydepot behind nginx", url: (page) => `${shipped.url}${page.urlPath}`, pid: shipped.pid, minRatio: 0.9, maxP99Ms: 5 },
    ];
    for (const [name, edit] of variants) {
      const variant = await startPydepotNginx(tools.nginx, storage, server.url, work, (config) => edit(withReference(config)));
      nginxes.push(variant);
      contenders.push({ name: `pydepot behind nginx, ${name}`, url: (page) => `${variant.url}${page.urlPath}`, pid: variant.pid, minRatio: null, maxP99Ms: null });
    }
    for (const page of bodies) {
      if (!(await fetchOk(contenders[0].url(page))).equals(page.body)) throw new Error(`the reference does not serve the same bytes for ${page.label}`);
      await expectFromPageFile(contenders[2].url(page), page, true);
      // A variant may serve other bytes (another file): it must still answer from a page file.
      for (const contender of contenders.slice(3)) await expectFromPageFile(contender.url(page), page, false);
    }
    const results = await interleave(tools.wrk, server, bodies, contenders, load);
    return bodies.flatMap((page, index) => pageRows(page, contenders, results[index]));
  } finally {
    for (const nginx of nginxes) await nginx.stop();
  }
}

/** One wrk run, and the CPU time the serving process spent per request meanwhile. */
interface Measured extends LoadResult {
  cpuUsPerRequest: number;
}

/** results[page][contender][round] */
async function interleave(wrk: string, server: ServerProcess, pages: BenchPage[], contenders: Contender[], load: PagesLoad): Promise<Measured[][][]> {
  const optionsOf = (page: BenchPage, seconds: number): LoadOptions => ({
    threads: page.oneConnection ? 1 : load.threads,
    connections: page.oneConnection ? 1 : load.connections,
    seconds,
    headers: page.accept ? [`Accept: ${page.accept}`] : [],
  });
  // A wrk failure on pydepot's own port is most likely the server's death: say so, with its output.
  // CPU time per request hardly depends on how busy the machine is, unlike requests/s and latency:
  // it shows what a setting costs nginx even when the rounds' ratios scatter.
  const measure = async (page: BenchPage, contender: Contender, seconds: number): Promise<Measured> => {
    const cpuBefore = processTreeCpuSeconds(contender.pid);
    const result = await runWrk(wrk, contender.url(page), optionsOf(page, seconds)).finally(() => server.assertAlive());
    const cpuUsPerRequest = ((processTreeCpuSeconds(contender.pid) - cpuBefore) * 1e6) / Math.max(1, result.requests);
    return { ...result, cpuUsPerRequest };
  };
  for (const contender of contenders) await measure(pages[0], contender, WARM_UP_SECONDS);
  const results = pages.map(() => contenders.map((): Measured[] => []));
  for (let round = 0; round < load.rounds; round++) {
    for (const [pageIndex, page] of pages.entries()) {
      // Each round starts with the next contender, so none always runs first (or right after another).
      for (let step = 0; step < contenders.length; step++) {
        const index = (round + step) % contenders.length;
        const result = await measure(page, contenders[index], load.seconds);
        log(`round ${round + 1}/${load.rounds} ${page.label}: ${contenders[index].name}: ${fmt(result.requestsPerSecond, 0)} requests/s, p99 ${fmt(result.p99Ms, 2)} ms, ${fmt(result.cpuUsPerRequest, 0)} µs CPU per request${result.errors ? `; ${result.errors}` : ""}`);
        results[pageIndex][index].push(result);
      }
    }
  }
  return results;
}

/** Three rows per contender against the reference: median requests/s, p99 and CPU per request, with the rounds' range. */
function pageRows(page: BenchPage, contenders: Contender[], results: Measured[][]): Row[] {
  const reference = results[0];
  const range = (values: number[], digits: number) => `${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}`;
  const errors = (runs: LoadResult[]) => {
    const failed = runs.map((run) => run.errors).filter(Boolean);
    return failed.length > 0 ? ` (${failed[0]})` : "";
  };
  const rate = (runs: LoadResult[]) => `${fmt(median(runs.map((run) => run.requestsPerSecond)), 0)}${errors(runs)}`;
  const cpu = (runs: Measured[]) => `${fmt(median(runs.map((run) => run.cpuUsPerRequest)), 0)} µs`;
  const p99 = (runs: LoadResult[]) => {
    const values = runs.map((run) => run.p99Ms);
    return `${fmt(median(values), 2)} ms (${range(values, 1)})`;
  };
  return contenders.slice(1).flatMap((contender, offset) => {
    const runs = results[offset + 1];
    // Paired by round: each ratio compares two runs that met the same machine.
    const ratios = runs.map((run, round) => run.requestsPerSecond / reference[round].requestsPerSecond);
    const ratio = median(ratios);
    const p99Ms = median(runs.map((run) => run.p99Ms));
    const label = `${page.label}, ${contender.name}`;
    return [
      {
        scenario: `${label}: requests/s`,
        pydepot: rate(runs),
        nginx: rate(reference),
        ratio: `${fmt(ratio, 2)} (${range(ratios, 2)})`,
        target: contender.minRatio === null || page.oneConnection ? "—" : `≥ ${fmt(contender.minRatio, 2)} ${ratio >= contender.minRatio ? "(met)" : "(missed)"}`,
      },
      {
        scenario: `${label}: p99 latency`,
        pydepot: p99(runs),
        nginx: p99(reference),
        ratio: fmt(p99Ms / median(reference.map((run) => run.p99Ms)), 2),
        target: contender.maxP99Ms === null || page.oneConnection ? "—" : `< ${contender.maxP99Ms} ms ${p99Ms < contender.maxP99Ms ? "(met)" : "(missed)"}`,
      },
      {
        scenario: `${label}: server CPU per request`,
        pydepot: cpu(runs),
        nginx: cpu(reference),
        ratio: fmt(median(runs.map((run) => run.cpuUsPerRequest)) / median(reference.map((run) => run.cpuUsPerRequest)), 2),
        target: "—",
      },
    ];
  });
}

function chosenVariants(): [string, (config: string) => string][] {
  const names = (process.env.BENCH_PAGES_VARIANTS ?? "").split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(name in VARIANTS));
  if (unknown.length > 0) throw new Error(`Unknown BENCH_PAGES_VARIANTS ${unknown.join(", ")}: choose from ${Object.keys(VARIANTS).join(", ")}`);
  return names.map((name) => [name, VARIANTS[name]]);
}

/** The reference's files, world-readable (workers may run as nobody). */
function writeReference(root: string, files: { file: string; body: Buffer }[]): void {
  const folder = path.join(root, REFERENCE_PREFIX);
  mkdirSync(folder, { recursive: true });
  for (const directory of [root, folder]) chmodSync(directory, 0o755);
  for (const { file, body } of files) {
    writeFileSync(path.join(folder, file), body);
    chmodSync(path.join(folder, file), 0o644);
  }
}

function replaceOnce(text: string, search: string, replacement: string): string {
  const at = text.indexOf(search);
  if (at < 0 || text.indexOf(search, at + 1) >= 0) throw new Error(`bench config edit: expected exactly one "${search}" in the rendered nginx config`);
  return text.slice(0, at) + replacement + text.slice(at + search.length);
}

/** The page through pydepot's nginx config must come from its page file (nginx's ETag), as the bytes pydepot sends. */
async function expectFromPageFile(url: string, page: BenchPage & { body: Buffer }, sameBytes: boolean): Promise<void> {
  const response = await fetch(url, { headers: page.accept ? { Accept: page.accept } : {} });
  const body = Buffer.from(await response.arrayBuffer());
  if (!response.ok || (sameBytes && !body.equals(page.body))) throw new Error(`${url}: nginx does not serve pydepot's bytes (HTTP ${response.status})`);
  if (!response.headers.has("last-modified")) throw new Error(`${url}: answered by pydepot, not from the page file (no Last-Modified: nginx sends one for a file, pydepot never)`);
}

async function fetchOk(url: string, accept?: string): Promise<Buffer> {
  const response = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}
