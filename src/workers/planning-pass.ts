// The background planning thread (started by planning-thread.ts): plans each pass it is sent, in
// order, in chunks of about CHUNK_MS, each its own transaction, on its own connection.
import { parentPort, workerData } from "node:worker_threads";
import { Planner } from "../services/planner.js";
import type { PassOrder } from "../services/planning.js";
import { AgentStore } from "../store/agents.js";
import { openDb } from "../store/db.js";
import { FileStore } from "../store/files.js";
import { JobStore } from "../store/jobs.js";
import { WriteTurns } from "../store/write-turns.js";
import type { ThreadOrder, ThreadReport } from "./planning-thread.js";

/**
 * Work one chunk does in one transaction, its commit on top: about the longest the event loop
 * waits when it writes meanwhile, added to its own work (an upload's planning takes 1-3 ms).
 */
const CHUNK_MS = 1;
/** Wait before a chunk that failed (a database locked by another process) runs again. */
const RETRY_MS = 1_000;
/** Chunks between two checkpoints of the thread's own: the WAL stays at a few MB during a pass. */
const CHECKPOINT_EVERY = 16;

const { file, memory } = workerData as { file: string; memory: SharedArrayBuffer };
const port = parentPort!;
const db = openDb(file);
// SQLite's automatic checkpoint would run inside a chunk's commit, while the event loop may be
// waiting for the turn; the thread checkpoints between chunks instead (the server's checkpoint
// worker, once a second, cannot keep up with a pass: the WAL grew to 585 MB).
db.pragma("wal_autocheckpoint = 0");
const turns = new WriteTurns(memory);
const planner = new Planner(db, new JobStore(db), new AgentStore(db), new FileStore(db), () => new Date().toISOString());
interface Pass {
  id: number;
  targets: Set<string>;
  cursor: number;
  end: number;
  created: number;
  chunks: number;
  longestChunkMs: number;
  startedAt: number;
}

const passes: Pass[] = [];
let next: { cancel(): void } | undefined;
let chunksSinceCheckpoint = 0;

port.on("message", (order: ThreadOrder) => {
  if (order.kind === "stop") {
    next?.cancel();
    db.close();
    port.close();
    return;
  }
  passes.push(toPass(order.pass));
  schedule(0);
});

function toPass(order: PassOrder): Pass {
  return { id: order.id, targets: new Set(order.targets), cursor: order.cursor, end: order.end, created: 0, chunks: 0, longestChunkMs: 0, startedAt: 0 };
}

function report(message: ThreadReport): void {
  port.postMessage(message);
}

function schedule(delayMs: number): void {
  if (next || passes.length === 0) return;
  const run = () => {
    next = undefined;
    step();
  };
  if (delayMs === 0) {
    const immediate = setImmediate(run);
    next = { cancel: () => clearImmediate(immediate) };
  } else {
    const timer = setTimeout(run, delayMs);
    next = { cancel: () => clearTimeout(timer) };
  }
}

/** Every CHECKPOINT_EVERY chunks; one that finds another checkpoint running (the server's worker) is skipped. */
function checkpointNow(): void {
  if (++chunksSinceCheckpoint < CHECKPOINT_EVERY) return;
  chunksSinceCheckpoint = 0;
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // SQLITE_BUSY: the next one catches up.
  }
}

function step(): void {
  const pass = passes[0];
  pass.startedAt ||= performance.now();
  try {
    turns.enter();
    const started = performance.now();
    try {
      // Ended early when the event loop wants to write: it waits for this chunk's commit.
      const chunk = planner.planChunk(pass, CHUNK_MS, () => turns.loopWaiting());
      pass.cursor = chunk.cursor;
      pass.created += chunk.created;
      pass.chunks++;
      pass.longestChunkMs = Math.max(pass.longestChunkMs, performance.now() - started);
      if (chunk.done) {
        passes.shift();
        const { created, chunks, longestChunkMs } = pass;
        report({ kind: "done", id: pass.id, summary: { created, chunks, longestChunkMs, seconds: (performance.now() - pass.startedAt) / 1000 } });
      }
    } finally {
      turns.leave();
    }
    checkpointNow();
    schedule(0);
  } catch (error) {
    report({ kind: "log", message: `planning jobs in the background failed (${(error as Error).message}): trying again in ${RETRY_MS / 1000} s` });
    schedule(RETRY_MS);
  }
}
