import { once } from "node:events";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Db } from "./db.js";

/** How often the worker copies the WAL into the database file. */
const EVERY_MS = 1_000;
/** SQLite's own default, for when the worker is gone. */
const AUTOMATIC_PAGES = 1_000;

// Its own connection; PASSIVE waits for no reader or writer, and a busy round is simply retried
// at the next tick.
const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("synchronous = FULL");
const timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {}
}, workerData.everyMs);
parentPort.once("message", () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpoints {
  stop(): Promise<void>;
}

/**
 * Copy the WAL into the database from a worker thread, so that no commit on the event loop does
 * it: SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages (pages copied
 * and two fsyncs, tens of milliseconds on a busy disk, and a background planning pass crosses it
 * every few chunks). For the server; a command keeps SQLite's automatic checkpoints.
 */
export function startCheckpoints(db: Db, log: (message: string) => void): Checkpoints {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(WORKER, { eval: true, workerData: { driver, file: db.name, everyMs: EVERY_MS } });
  db.pragma("wal_autocheckpoint = 0");
  const exited = once(worker, "exit");
  worker.on("error", (error) => {
    log(`WAL checkpoints in the background stopped (${error.message}): commits checkpoint again`);
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOMATIC_PAGES}`);
  });
  return {
    async stop() {
      worker.postMessage("stop");
      await exited;
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOMATIC_PAGES}`);
    },
  };
}
