import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { BackgroundPlanner, PassOrder, PassReports, PassSummary } from "../services/planning.js";
import { shareWriteLock, type Db } from "../store/db.js";
import { WriteTurns } from "../store/write-turns.js";

/** What the event loop sends the thread. */
export type ThreadOrder = { kind: "pass"; pass: PassOrder } | { kind: "stop" };
/** What the thread sends back. */
export type ThreadReport = { kind: "done"; id: number; summary: PassSummary } | { kind: "log"; message: string };

/**
 * Run the background planning passes in a worker thread with its own connection to `db`'s file
 * (planning-pass.ts), so the event loop does no planning work during a pass: it only waits for
 * the chunk under way when it writes itself (write-turns.ts).
 */
export function startPlanningThread(db: Db, reports: PassReports): BackgroundPlanner {
  const turns = new WriteTurns();
  const unshare = shareWriteLock(db, turns);
  const worker = new Worker(entryCode(), { eval: true, workerData: { file: db.name, memory: turns.memory } });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  void exited.then(unshare);
  worker.on("message", (report: ThreadReport) => (report.kind === "done" ? reports.done(report.id, report.summary) : reports.log(report.message)));
  worker.on("error", (error) => reports.lost(error.message));
  return {
    run: (pass) => worker.postMessage({ kind: "pass", pass } satisfies ThreadOrder),
    async stop() {
      // The thread stops between two chunks: ending it inside one would leave its transaction open.
      worker.postMessage({ kind: "stop" } satisfies ThreadOrder);
      await exited;
    },
  };
}

/**
 * The thread's module. Run from source (the tests and the bench load src/*.ts), the thread has no
 * TypeScript loader of its own, so it registers tsx's first.
 */
function entryCode(): string {
  const self = fileURLToPath(import.meta.url);
  const entry = JSON.stringify(pathToFileURL(path.join(path.dirname(self), `planning-pass${path.extname(self)}`)).href);
  if (!self.endsWith(".ts")) return `import(${entry});`;
  // tsx's ESM API: its CommonJS twin, which require.resolve finds, sits beside it.
  const api = path.join(path.dirname(createRequire(import.meta.url).resolve("tsx/esm/api")), "index.mjs");
  return `import(${JSON.stringify(pathToFileURL(api).href)}).then(({ register }) => { register(); return import(${entry}); });`;
}
