// `pydepot import` of a folder of small wheels, as an admin moving an old index in would run it:
// 10,000 and 100,000 files in one run, each into an empty storage folder.
import { execFile, execFileSync } from "node:child_process";
import { linkSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { fmt, log } from "./machine.js";
import { plan } from "./populate.js";
import type { FigureRow, ScenarioResult } from "./report.js";
import { wheelBytes, wheelFilename } from "./wheels.js";

const run = promisify(execFile);
const MAIN = path.resolve("dist/main.js");
const SIZES = (process.env.BENCH_IMPORT_FILES ?? "10000,100000").split(",").map(Number);
const PER_PROJECT = 20;
const TARGET_RATE = 2000;
const TARGET_100K_SECONDS = 60;

export async function importScenario(work: string): Promise<ScenarioResult> {
  const largest = Math.max(...SIZES);
  const specs = plan(Math.ceil(largest / PER_PROJECT), PER_PROJECT).slice(0, largest);
  const all = path.join(work, `source-${largest}`);
  mkdirSync(all, { recursive: true });
  log(`import: writing ${fmt(specs.length, 0)} small wheels`);
  let bytes = 0;
  for (const spec of specs) {
    const wheel = await wheelBytes(spec);
    bytes += wheel.length;
    writeFileSync(path.join(all, wheelFilename(spec)), wheel);
  }
  const rows: FigureRow[] = [];
  for (const size of SIZES) {
    const source = size === largest ? all : linkFirst(all, path.join(work, `source-${size}`), specs.slice(0, size).map(wheelFilename));
    // The import makes its batches durable with syncfs, which writes out every dirty page of the
    // filesystem: without this, the first batch would pay for writing the bench's own corpus.
    execFileSync("sync");
    const seconds = await timeImport(source, path.join(work, `storage-${size}`), size);
    const rate = size / seconds;
    rows.push({ scenario: `import ${fmt(size, 0)} small wheels`, result: `${fmt(seconds, 2)} s, ${fmt(rate, 0)} files/s`, target: `≥ ${fmt(TARGET_RATE, 0)} files/s ${met(rate >= TARGET_RATE)}` });
    if (size === 100_000) rows.push({ scenario: "100,000 files: time to import", result: `${fmt(seconds, 1)} s`, target: `< ${TARGET_100K_SECONDS} s ${met(seconds < TARGET_100K_SECONDS)}` });
  }
  return {
    notes: [
      `\`pydepot import\` of folders of ${SIZES.map((size) => fmt(size, 0)).join(" and ")} small wheels (${fmt(bytes / specs.length / 1024)} KiB on average, ${PER_PROJECT} per project), each into an empty storage folder, output not a terminal (plain lines).`,
      "Timed from spawn to exit: includes start-up, the folder walk and the report. The corpus is written out (`sync`) before each import: an import's syncfs covers the whole filesystem, and would otherwise time the bench's own writes. Knob: BENCH_IMPORT_FILES (comma-separated counts).",
    ],
    rows,
  };
}

/** A folder holding the first files of another, as hard links (no second copy to write). */
function linkFirst(from: string, to: string, filenames: string[]): string {
  mkdirSync(to, { recursive: true });
  for (const filename of filenames) linkSync(path.join(from, filename), path.join(to, filename));
  return to;
}

async function timeImport(source: string, storage: string, count: number): Promise<number> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
  const started = performance.now();
  const { stdout } = await run(process.execPath, [MAIN, "import", source], {
    cwd: path.dirname(storage),
    env: { ...env, PYDEPOT_STORAGE_PATH: storage },
    maxBuffer: 1024 * 1024 * 1024,
    timeout: 30 * 60 * 1000,
  });
  const seconds = (performance.now() - started) / 1000;
  const summary = stdout.trim().split("\n").at(-1) ?? "";
  if (!summary.startsWith(`${count} added`)) throw new Error(`import did not add every file: ${summary}`);
  log(`import: ${summary} in ${fmt(seconds, 2)} s (${fmt(count / seconds, 0)} files/s)`);
  return seconds;
}

function met(yes: boolean): string {
  return yes ? "(met)" : "(missed)";
}
