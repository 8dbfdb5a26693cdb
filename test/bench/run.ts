/**
 * `npm run bench [-- SCENARIO…]` (every scenario by default). Not part of `npm test`; loopback
 * only; every run bounded in time. Each scenario writes its own section of test/bench/results.md
 * (the sections of scenarios not run are kept) and prints its table.
 *
 * - pages, upload, 100k: the index side by side with Debian's nginx (index.ts, pages.ts). Knobs:
 *   BENCH_SECONDS (one wrk run, default 5), BENCH_ROUNDS (5), BENCH_THREADS (1), BENCH_CONNECTIONS (16),
 *   BENCH_PAGES_VARIANTS (bench-only edits of the nginx config to measure beside it, none by default).
 * - import: `pydepot import` of folders of 10,000 and 100,000 small wheels (imports.ts). Knob:
 *   BENCH_IMPORT_FILES (comma-separated counts, default 10000,100000).
 * - farm-latency, farm-leases: the build farm (farm-latency.ts, farm-leases.ts). Knob:
 *   BENCH_REAL_AGENT_UPLOADS (5).
 * - farm-planning: with 10,000 sdists and 20 targets, the event loop during the background pass that
 *   plans every sdist for new targets, and planning after an upload (farm-planning.ts).
 * - check-latency, check-throughput: the import checker over a real sshd (check-latency.ts,
 *   check-throughput.ts). Knob: BENCH_CHECK_WINDOW_SECONDS (240).
 * - downloads: a small wheel under wrk (1 thread, 16 connections) and one 512 MiB wheel by curl,
 *   against nginx serving the same files (downloads.ts).
 * - logins: wrong-password timing for known and unknown names, downloads during a flood (logins.ts).
 * - ui: each web UI page's time with 2,000 projects and 100,000 files (ui.ts). Knob: BENCH_UI_REQUESTS (100).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkLatencyScenario } from "./check-latency.js";
import { checkThroughputScenario } from "./check-throughput.js";
import { ensureTools } from "./debian.js";
import { importScenario } from "./imports.js";
import { downloadsScenario } from "./downloads.js";
import { farmLatencyScenario } from "./farm-latency.js";
import { farmLeasesScenario } from "./farm-leases.js";
import { farmPlanningScenario } from "./farm-planning.js";
import { loginsScenario } from "./logins.js";
import { uiScenario } from "./ui.js";
import { largeScenario, pagesScenario, uploadScenario, type IndexResult, type Tools } from "./index.js";
import { describeMachine, fmt, log, watchLoad } from "./machine.js";
import { formatFigures, formatTable, mergeResults, type ScenarioResult, type Section } from "./report.js";

type Run = (work: string, tools: () => Tools) => Promise<IndexResult | ScenarioResult>;

/** Every scenario, in the order they run and appear in results.md. */
const SCENARIOS: Record<string, { title: string; run: Run }> = {
  pages: { title: "Index pages against nginx, 2,000 projects through ingest", run: (work, tools) => pagesScenario(tools(), work) },
  downloads: { title: "Downloads against nginx: a small wheel under load, one large wheel", run: (work, tools) => downloadsScenario(tools(), work) },
  upload: { title: "A 200 MiB wheel upload: server memory and throughput", run: (work) => uploadScenario(work) },
  import: { title: "Import of a folder of small wheels: 10,000 and 100,000 files", run: (work) => importScenario(work) },
  "100k": { title: "100,000 files: start-up and pages against nginx", run: (work, tools) => largeScenario(tools(), work) },
  "farm-latency": { title: "Build farm: sdist upload → an idle agent starts the job", run: (work) => farmLatencyScenario(work) },
  "farm-leases": { title: "Build farm: leases per second, 10,000 queued jobs, 20 agents", run: (work) => farmLeasesScenario(work) },
  "farm-planning": { title: "Build farm: planning in the background and after an upload, 10,000 sdists and 20 targets", run: (work) => farmPlanningScenario(work) },
  "check-latency": { title: "Import checker: one check of a small pure wheel on a warm node", run: (work) => checkLatencyScenario(work) },
  "check-throughput": { title: "Import checker: 200 pending artifacts, one node running 2 checks at once", run: (work) => checkThroughputScenario(work) },
  logins: { title: "Password guessing: equal timing for unknown names, downloads during a flood", run: (work) => loginsScenario(work) },
  ui: { title: "Web UI pages: server time with 2,000 projects and 100,000 files", run: (work) => uiScenario(work) },
};
const NAMES = Object.keys(SCENARIOS);

const HEADER = [
  "# pydepot bench results",
  "",
  "`npm run bench -- <scenario…>` (all of them by default) rewrites the sections of the scenarios it ran and keeps the others;",
  "each section says when it ran and how busy the machine was. Not part of `npm test`; loopback only.",
].join("\n");

async function main(): Promise<void> {
  const chosen = selectScenarios(process.argv.slice(2));
  const work = mkdtempSync(path.join(os.tmpdir(), "pydepot-bench-"));
  chmodSync(work, 0o755); // nginx workers run as nobody when the bench is root: they must reach their root folder
  process.once("exit", () => rmSync(work, { recursive: true, force: true }));
  let tools: Tools | undefined;
  const lazyTools = () => (tools ??= ensureTools(log));
  const sections: Section[] = [];
  const started = performance.now();
  for (const name of chosen) {
    log(`${name}: starting`);
    const load = watchLoad();
    const scenarioStarted = performance.now();
    const result = await SCENARIOS[name].run(path.join(work, name), lazyTools);
    const seconds = (performance.now() - scenarioStarted) / 1000;
    const table = isIndexResult(result) ? formatTable(result.rows) : formatFigures(result.rows);
    sections.push({ scenario: name, markdown: sectionMarkdown(name, result.notes, table, seconds, load.stop()) });
    console.log(`\n${name}\n${table}\n`);
  }
  const resultsFile = fileURLToPath(new URL("results.md", import.meta.url));
  writeFileSync(resultsFile, mergeResults(resultsFile, HEADER, sections, NAMES));
  log(`${chosen.join(", ")}: ${fmt((performance.now() - started) / 1000, 0)} s; written to ${path.relative(process.cwd(), resultsFile)}`);
}

function selectScenarios(args: string[]): string[] {
  const unknown = args.filter((arg) => !NAMES.includes(arg));
  if (unknown.length > 0) throw new Error(`Unknown scenario(s) ${unknown.join(", ")}: choose from ${NAMES.join(", ")}`);
  return args.length > 0 ? NAMES.filter((name) => args.includes(name)) : NAMES;
}

function isIndexResult(result: IndexResult | ScenarioResult): result is IndexResult {
  return result.rows.length > 0 && "pydepot" in result.rows[0];
}

function sectionMarkdown(name: string, notes: string[], table: string, seconds: number, load: string): string {
  return [
    `## ${SCENARIOS[name].title}`,
    "",
    `\`npm run bench -- ${name}\`, ${new Date().toISOString()}, ${fmt(seconds, 0)} s; ${describeMachine()}, node ${process.version}; ${load}.`,
    "",
    ...notes.map((note) => `- ${note}`),
    "",
    table,
  ].join("\n");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
