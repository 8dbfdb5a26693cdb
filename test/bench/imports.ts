// `pydepot import` of a folder of small wheels, as an admin moving an old index in would run it.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { fmt, log } from "./machine.js";
import { plan } from "./populate.js";
import type { ScenarioResult } from "./report.js";
import { wheelBytes, wheelFilename } from "./wheels.js";

const run = promisify(execFile);
const MAIN = path.resolve("dist/main.js");
const FILES = Number(process.env.BENCH_IMPORT_FILES ?? 10_000);
const PER_PROJECT = 20;

export async function importScenario(work: string): Promise<ScenarioResult> {
  const source = path.join(work, "source");
  mkdirSync(source, { recursive: true });
  const specs = plan(Math.ceil(FILES / PER_PROJECT), PER_PROJECT).slice(0, FILES);
  log(`import: writing ${fmt(specs.length, 0)} small wheels`);
  let bytes = 0;
  for (const spec of specs) {
    const wheel = await wheelBytes(spec);
    bytes += wheel.length;
    writeFileSync(path.join(source, wheelFilename(spec)), wheel);
  }
  const storage = path.join(work, "storage");
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
  const started = performance.now();
  const { stdout } = await run(process.execPath, [MAIN, "import", source], {
    cwd: work,
    env: { ...env, PYDEPOT_STORAGE_PATH: storage },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 30 * 60 * 1000,
  });
  const seconds = (performance.now() - started) / 1000;
  const summary = stdout.trim().split("\n").at(-1) ?? "";
  if (!summary.startsWith(`${specs.length} added`)) throw new Error(`import did not add every file: ${summary}`);
  const rate = specs.length / seconds;
  const projected = 100_000 / rate;
  log(`import: ${summary} in ${fmt(seconds, 2)} s (${fmt(rate, 0)} files/s)`);
  return {
    notes: [
      `\`pydepot import\` of a folder of ${fmt(specs.length, 0)} small wheels (${fmt(bytes / specs.length / 1024)} KiB on average, ${PER_PROJECT} per project), into an empty storage folder, output not a terminal (plain lines).`,
      "Timed from spawn to exit: includes start-up, the folder walk and the report. Knob: BENCH_IMPORT_FILES.",
    ],
    rows: [
      { scenario: `import ${fmt(specs.length, 0)} small wheels`, result: `${fmt(seconds, 2)} s, ${fmt(rate, 0)} files/s`, target: `≥ 2,000 files/s ${rate >= 2000 ? "(met)" : "(missed)"}` },
      { scenario: "100,000 files at that rate", result: `${fmt(projected, 0)} s`, target: `< 60 s ${projected < 60 ? "(met)" : "(missed)"}` },
    ],
  };
}
