/**
 * `npm run bench [-- pages upload 100k]` (all three by default): pydepot side by side with Debian's
 * nginx; the table goes to stdout and to test/bench/results.md. Not part of `npm test`; loopback
 * only; every run bounded in time. Knobs: BENCH_SECONDS (wrk duration, default 10),
 * BENCH_THREADS (2), BENCH_CONNECTIONS (32).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTools } from "./debian.js";
import { startNginx } from "./nginx.js";
import { createUploader, openServices, plan, populateByIngest, populateByStores, type Population } from "./populate.js";
import { formatTable, type Row } from "./report.js";
import { startServer, type ServerProcess } from "./server.js";
import { measureUpload, upload } from "./upload.js";
import { wheelBytes, wheelFilename, writeBigWheel } from "./wheels.js";
import { runWrk, type LoadOptions, type LoadResult } from "./wrk.js";

const SCENARIOS = ["pages", "upload", "100k"] as const;
type Tools = ReturnType<typeof ensureTools>;
type Scenario = (typeof SCENARIOS)[number];

const PROJECTS = 2000;
const FILES_PER_PAGE = 50;
const UPLOAD_PAYLOAD_BYTES = 200 * 1024 ** 2;
const WARM_UP_SECONDS = 2;

const load: LoadOptions = {
  threads: Number(process.env.BENCH_THREADS ?? 2),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
};
const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const fmt = (value: number, digits = 1) => value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const chosen = selectScenarios(process.argv.slice(2));
  const tools = ensureTools(log);
  const work = mkdtempSync(path.join(os.tmpdir(), "pydepot-bench-"));
  chmodSync(work, 0o755); // nginx workers run as nobody when the bench is root: they must reach their root folder
  process.once("exit", () => rmSync(work, { recursive: true, force: true }));
  const rows: Row[] = [];
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  if (chosen.includes("pages")) rows.push(...(await pagesScenario(tools, path.join(work, "pages"))));
  if (chosen.includes("upload")) rows.push(...(await uploadScenario(path.join(work, "upload"))));
  if (chosen.includes("100k")) rows.push(...(await largeScenario(tools, path.join(work, "100k"))));
  const context = { chosen, tools, seconds: (performance.now() - started) / 1000, loadAverages: [loadBefore, os.loadavg()[0]] };
  const report = resultsMarkdown(rows, context);
  const resultsFile = fileURLToPath(new URL("results.md", import.meta.url));
  writeFileSync(resultsFile, report);
  console.log(`\n${formatTable(rows)}\n`);
  log(`written to ${path.relative(process.cwd(), resultsFile)}`);
}

function selectScenarios(args: string[]): Scenario[] {
  const unknown = args.filter((arg) => !SCENARIOS.includes(arg as Scenario));
  if (unknown.length > 0) throw new Error(`Unknown scenario(s) ${unknown.join(", ")}: choose from ${SCENARIOS.join(", ")}`);
  return args.length > 0 ? (args as Scenario[]) : [...SCENARIOS];
}

/** 2,000 projects (one with 50 files) through the real ingest; pages vs nginx. */
async function pagesScenario(tools: Tools, work: string): Promise<Row[]> {
  const storage = path.join(work, "storage");
  const specs = plan(PROJECTS, 1, FILES_PER_PAGE);
  log(`pages: populating ${specs.length} files in ${PROJECTS} projects through ingest`);
  const services = openServices(storage);
  const population = await populateByIngest(services, specs).finally(() => services.close());
  const server = await startServer(storage);
  try {
    return [
      populationRow(`populate ${fmt(population.files, 0)} files / ${fmt(population.projects, 0)} projects via ingest`, population),
      ...startupRows(`start-up, ${fmt(population.files, 0)} files`, [server]),
      ...(await comparePages(tools, server, population, work, "")),
    ];
  } finally {
    await server.stop();
  }
}

/** 2,000 projects × 50 files: start-up time and pages again. */
async function largeScenario(tools: Tools, work: string): Promise<Row[]> {
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
    return [
      populationRow(`populate ${fmt(population.files, 0)} files / ${fmt(population.projects, 0)} projects via stores (shortcut)`, population),
      ...startupRows(`start-up, ${fmt(population.files, 0)} files (median of 3)`, starts),
      ...(await comparePages(tools, server, population, work, "100k: ")),
    ];
  } finally {
    await server.stop();
  }
}

/** The same page bytes from pydepot and from nginx (static files), under the same wrk load. */
async function comparePages(tools: Tools, server: ServerProcess, population: Population, work: string, prefix: string): Promise<Row[]> {
  const pages = [
    { label: `${prefix}/simple/<project>/ (${FILES_PER_PAGE} files)`, urlPath: `/simple/${population.bigProject}/` },
    { label: `${prefix}/simple/ (${fmt(population.projects, 0)} projects)`, urlPath: "/simple/" },
  ];
  const bodies = await Promise.all(pages.map(async (page) => ({ ...page, body: await fetchOk(`${server.url}${page.urlPath}`) })));
  const nginx = await startNginx(tools.nginx, bodies, work);
  const rows: Row[] = [];
  try {
    for (const page of bodies) {
      const fromNginx = await fetchOk(`${nginx.url}${page.urlPath}`);
      if (!fromNginx.equals(page.body)) throw new Error(`nginx does not serve the same bytes for ${page.urlPath}`);
      log(`${page.label}: ${fmt(page.body.length / 1024)} KiB; wrk -t${load.threads} -c${load.connections} -d${load.seconds}s`);
      // A wrk failure is most likely the server's death: say so, with its output.
      const loadPydepot = (options: LoadOptions) =>
        runWrk(tools.wrk, `${server.url}${page.urlPath}`, options).finally(() => server.assertAlive());
      await loadPydepot({ ...load, seconds: WARM_UP_SECONDS });
      const ours = await loadPydepot(load);
      const theirs = await runWrk(tools.wrk, `${nginx.url}${page.urlPath}`, load);
      for (const [name, result] of [["pydepot", ours], ["nginx", theirs]] as const) {
        log(`${page.label}: ${name}: ${fmt(result.requestsPerSecond, 0)} requests/s, p50 ${fmt(result.p50Ms, 2)} ms, p99 ${fmt(result.p99Ms, 2)} ms${result.errors ? `; ${result.errors}` : ""}`);
      }
      const ratio = ours.requestsPerSecond / theirs.requestsPerSecond;
      const errors = (result: LoadResult) => (result.errors ? ` (${result.errors})` : "");
      rows.push(
        {
          scenario: `${page.label}: requests/s`,
          pydepot: fmt(ours.requestsPerSecond, 0) + errors(ours),
          nginx: fmt(theirs.requestsPerSecond, 0) + errors(theirs),
          ratio: fmt(ratio, 2),
          target: `≥ 0.50 ${ratio >= 0.5 ? "(met)" : "(missed)"}`,
        },
        {
          scenario: `${page.label}: p99 latency (p50)`,
          pydepot: `${fmt(ours.p99Ms, 2)} ms (${fmt(ours.p50Ms, 2)})`,
          nginx: `${fmt(theirs.p99Ms, 2)} ms (${fmt(theirs.p50Ms, 2)})`,
          ratio: fmt(ours.p99Ms / theirs.p99Ms, 2),
          target: `< 10 ms ${ours.p99Ms < 10 ? "(met)" : "(missed)"}`,
        },
      );
    }
  } finally {
    await nginx.stop();
  }
  return rows;
}

/**
 * One 200 MiB wheel uploaded to two fresh servers (sha256_digest only, then with blake2_256_digest
 * too) while the server's RSS is watched; each server first takes a small warm-up upload.
 */
async function uploadScenario(work: string): Promise<Row[]> {
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
  return rows;
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

async function fetchOk(url: string): Promise<Buffer> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

interface RunContext {
  chosen: Scenario[];
  tools: Tools;
  seconds: number;
  /** One-minute load average at the start and at the end: anything else running skews the figures. */
  loadAverages: number[];
}

function resultsMarkdown(rows: Row[], context: RunContext): string {
  const firstLine = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { encoding: "utf8" });
    return `${result.stdout}${result.stderr}`.trim().split("\n")[0].replace(/ Copyright.*/, "");
  };
  return [
    "# pydepot bench results",
    "",
    `\`npm run bench -- ${context.chosen.join(" ")}\`, ${new Date().toISOString()}, the scenarios took ${fmt(context.seconds, 0)} s.`,
    "",
    `- Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, ${fmt(os.totalmem() / 1024 ** 3, 0)} GiB; ` +
      `load average ${context.loadAverages.map((value) => fmt(value, 2)).join(" → ")} (before → after).`,
    `- node ${process.version}; ${firstLine(context.tools.nginx, ["-v"])}; ${firstLine(context.tools.wrk, ["-v"])}.`,
    `- Load: \`wrk -t${load.threads} -c${load.connections} -d${load.seconds}s --latency\` on 127.0.0.1, after a ${WARM_UP_SECONDS} s` +
      " warm-up of pydepot; wrk, the server under test and nginx share the machine's cores.",
    "- pydepot runs as `node dist/main.js serve` in its own process; nginx (worker_processes auto, access_log off) serves" +
      " the very bytes pydepot served, as static index.html files.",
    "- The 100k rows are written through the stores in one transaction (a bench-only shortcut: ingest, one transaction" +
      " and several fsyncs per file, is far slower); the other figures use the real ingest and upload paths.",
    "",
    formatTable(rows),
    "",
  ].join("\n");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
