// farm-planning: jobs are planned the moment an sdist is stored, and planning never holds the
// event loop for more than a few milliseconds (issue 8), with 10,000 sdists and 20 targets.
// In-process, through the real services: 20 agents (one target each) registered first, 10,000
// sdists through the stores (bench-only shortcut); then the services open again, as a server
// starting, and the background full pass plans every sdist for every target while the event loop
// is watched; then new sdists through the real ingest path, whose wake-up plans their jobs.
import { cpSync } from "node:fs";
import { Worker } from "node:worker_threads";
import path from "node:path";
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from "node:perf_hooks";
import type { Services } from "../../src/app.js";
import type { Principal } from "../../src/services/access.js";
import { startCheckpoints } from "../../src/store/checkpoints.js";
import { WriteTurns } from "../../src/store/write-turns.js";
import { startPlanningThread } from "../../src/workers/planning-thread.js";
import { sdist } from "../support/artifacts.js";
import { TARGETS, type TargetMessage } from "../support/farm-api.js";
import { registerAgents } from "./farm.js";
import { fmt, log, mainThreadTimes, percentile } from "./machine.js";
import { openServices, plan, populateSdistsByStores } from "./populate.js";
import { verdict, type ScenarioResult } from "./report.js";

const SDISTS = 10_000;
const PROJECTS = 1_000;
const UPLOADS = 50;
/** "A few milliseconds" (issue 8). */
const TARGET_MS = 5;
const BENCH: Principal = { kind: "system", name: "bench" };

/** 20 distinct wheel targets: CPython 3.6 … 3.15 on two platforms. */
function targets(): TargetMessage[] {
  return ["linux_x86_64", "linux_aarch64"].flatMap((platform) =>
    Array.from({ length: 10 }, (_, index) => {
      const minor = 6 + index;
      const tag = `cp3${minor}`;
      return { ...TARGETS.wheel311, python_version: `3.${minor}.0`, platform, arch: platform.replace("linux_", ""), wheel_tags: [`${tag}-${tag}-${platform}`, `py3-none-${platform}`, "py3-none-any"] };
    }),
  );
}

export async function farmPlanningScenario(work: string): Promise<ScenarioResult> {
  const storage = path.join(work, "storage");
  const reported = targets();
  const setup = openServices(storage);
  try {
    reported.forEach((target, index) => registerAgents(setup, setup.agents.createEnrolment("bench", "bench"), 1, target, `bench-planner-${index}`));
    log(`farm-planning: ${SDISTS} sdists in ${PROJECTS} projects through the stores (bench-only shortcut)`);
    await populateSdistsByStores(setup, plan(PROJECTS, SDISTS / PROJECTS));
  } finally {
    setup.close();
  }
  // The same state twice: one server start plans alone, the other while uploads arrive.
  const busyStorage = path.join(work, "storage-busy");
  cpSync(storage, busyStorage, { recursive: true });
  const expected = (SDISTS + UPLOADS) * reported.length;
  const alone = await fullPass(storage, expected, async (services) => {
    // The pass left a WAL of 200,000 rows: checkpoint it now, or the first commit after it
    // (the first upload's) pays for the bench's setup.
    services.db.pragma("wal_checkpoint(TRUNCATE)");
    const idle = timed(() => services.planning.plan());
    return { idle, blocks: await uploads(services, reported.length, "after") };
  });
  const busy = await fullPass(busyStorage, expected, async (services) => ({ blocks: await uploads(services, reported.length, "during") }), {
    during: true,
  });
  const references = { idle: await watched(alone.pass.seconds, false), spinning: await watched(alone.pass.seconds, true) };
  return report(alone.pass, alone.after.idle, alone.after.blocks, busy.pass, busy.after.blocks, reported.length, references);
}

interface Watched {
  loop: LoopDelays;
  longestGap: LongestGap;
}

/**
 * The references for the pass's event-loop delay: the event loop watched as during the pass, for
 * as long, with nothing else to do (`spinning` false), or beside one thread of this process that
 * only spins (no SQLite, no I/O, no planning): what one busy thread alone costs the event loop here.
 */
async function watched(seconds: number, spinning: boolean): Promise<Watched> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const gaps = watchGaps();
  if (spinning) {
    const spinner = new Worker(`const end = Date.now() + ${Math.round(seconds * 1000)}; while (Date.now() < end);`, { eval: true });
    await new Promise((resolve, reject) => spinner.once("exit", resolve).once("error", reject));
  } else {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }
  loop.disable();
  return { loop: delays(loop), longestGap: gaps.stop() };
}

interface LoopDelays {
  /** The event loop's delays, ms (perf_hooks, 1 ms resolution): the longest, the 99th percentile. */
  max: number;
  p99: number;
}

/** The longest gap between two ticks of a 1 ms timer, ms, split by the event loop's /proc schedstat. */
interface LongestGap {
  ms: number;
  /** The event loop on a CPU: its own work (the timer's callbacks, a message, garbage collection). */
  runningMs: number;
  /** Runnable but waiting for a CPU: the other threads and processes held both cores. */
  waitingMs: number;
  /** The event loop's longest garbage collection meanwhile (anywhere in the watch, not only in this gap). */
  longestGcMs: number;
}

/** Ticks a 1 ms timer and keeps the longest gap between ticks with what the event loop did in it. */
function watchGaps(): { stop(): LongestGap } {
  let longest = { ms: 0, runningMs: 0, waitingMs: 0 };
  let longestGcMs = 0;
  const collections = new PerformanceObserver((list) => list.getEntries().forEach((entry) => (longestGcMs = Math.max(longestGcMs, entry.duration))));
  collections.observe({ entryTypes: ["gc"] });
  let last = { at: performance.now(), ...mainThreadTimes(process.pid) };
  const timer = setInterval(() => {
    const now = { at: performance.now(), ...mainThreadTimes(process.pid) };
    if (now.at - last.at > longest.ms) {
      longest = { ms: now.at - last.at, runningMs: (now.cpuSeconds - last.cpuSeconds) * 1000, waitingMs: (now.waitSeconds - last.waitSeconds) * 1000 };
    }
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      collections.disconnect();
      return { ...longest, longestGcMs };
    },
  };
}

interface FullPass {
  seconds: number;
  jobs: number;
  loop: LoopDelays;
  longestGap: LongestGap;
  /** The planning thread's own line about the pass: its chunks and the longest. */
  threadReport: string;
}

/**
 * A server starting on `storage`, as `startApp` starts one: the WAL checkpointed by its worker
 * thread, and the background pass for the targets new to it on the planning thread, to its end,
 * the event loop watched. `meanwhile` runs after the pass (or, `during`, as soon as it starts).
 */
async function fullPass<T>(storage: string, expected: number, meanwhile: (services: Services) => Promise<T>, options = { during: false }): Promise<{ pass: FullPass; after: T }> {
  const services = openServices(storage);
  const checkpoints = startCheckpoints(services.db, log);
  const threadReports: string[] = [];
  try {
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const gaps = watchGaps();
    const started = performance.now();
    services.planning.start(
      (message) => (message.startsWith("planned ") ? threadReports.push(message) : log(message)),
      (reports) => startPlanningThread(services.db, reports),
    );
    const during = options.during
      ? meanwhile(services).then((result) => {
          if (threadReports.length > 0) throw new Error("the background pass ended before the uploads: they were not all during it");
          return result;
        })
      : undefined;
    await services.planning.idle();
    const seconds = (performance.now() - started) / 1000;
    loop.disable();
    const longestGap = gaps.stop();
    const after = await (during ?? meanwhile(services));
    await services.planning.idle();
    const jobs = services.db.prepare("SELECT count(*) FROM jobs").pluck().get() as number;
    if (jobs !== expected) throw new Error(`the full pass and the uploads queued ${jobs} jobs, expected ${expected}`);
    if (threadReports.length === 0) throw new Error("the planning thread reported no pass");
    const pass = { seconds, jobs, loop: delays(loop), longestGap, threadReport: threadReports[0] };
    log(`farm-planning: background full pass${options.during ? " with uploads" : ""}: ${pass.threadReport}; event loop longest delay ${fmt(pass.loop.max, 1)} ms`);
    return { pass, after };
  } finally {
    await services.planning.stop();
    await checkpoints.stop();
    services.close();
  }
}

function delays(loop: IntervalHistogram): LoopDelays {
  return { max: loop.max / 1e6, p99: loop.percentile(99) / 1e6 };
}

interface Blocks {
  /** Each planning pass that followed an upload's wake-up, ms: wall time, and the process's CPU time within it. */
  plans: number[];
  cpu: number[];
  /** Each wait of an event-loop transaction for the planning thread's chunk, ms (write-turns.ts). */
  turnWaits: number[];
  loop: LoopDelays;
}

/**
 * New sdists through the real ingest; the wake-up after each commit plans their jobs: timed by
 * wrapping plan(), and the event loop's waits for the planning thread by wrapping WriteTurns.claim.
 */
async function uploads(services: Services, targetCount: number, name: string): Promise<Blocks> {
  const plans: number[] = [];
  const cpu: number[] = [];
  const turnWaits: number[] = [];
  const planning = services.planning as unknown as { plan: () => number };
  const original = planning.plan.bind(planning);
  planning.plan = () => {
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    const created = original();
    // The wake-up at the end of a background pass plans nothing new: only an upload's count.
    if (created === 0) return created;
    plans.push(performance.now() - started);
    const used = process.cpuUsage(cpuStarted);
    cpu.push((used.user + used.system) / 1000);
    if (created !== targetCount) throw new Error(`planning after an upload queued ${created} jobs, expected ${targetCount}`);
    return created;
  };
  const claim = WriteTurns.prototype.claim;
  WriteTurns.prototype.claim = function (this: WriteTurns) {
    const started = performance.now();
    claim.call(this);
    turnWaits.push(performance.now() - started);
  };
  const files = await Promise.all(Array.from({ length: UPLOADS }, (_, index) => sdist({ name: `bench-${name}-${index}`, version: "1.0" })));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  try {
    for (const file of files) {
      const staged = services.blobs.stageBytes(file.bytes);
      await services.ingest.ingest({ staged, filename: file.filename, principal: BENCH, origin: "upload" });
    }
  } finally {
    loop.disable();
    planning.plan = original;
    WriteTurns.prototype.claim = claim;
  }
  if (plans.length !== UPLOADS) throw new Error(`${plans.length} planning passes for ${UPLOADS} uploads`);
  return { plans, cpu, turnWaits, loop: delays(loop) };
}

function timed(work: () => unknown): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

function report(full: FullPass, idleMs: number, blocks: Blocks, busy: FullPass, busyBlocks: Blocks, targetCount: number, references: { idle: Watched; spinning: Watched }): ScenarioResult {
  const reference = ({ loop, longestGap }: Watched) =>
    `longest ${fmt(loop.max, 1)} ms, p99 ${fmt(loop.p99, 1)} ms; the longest gap ${fmt(longestGap.ms, 1)} ms: running ${fmt(longestGap.runningMs, 1)} ms, waiting for a CPU ${fmt(longestGap.waitingMs, 1)} ms`;
  const longest = Math.max(...blocks.plans);
  const busyLongest = Math.max(...busyBlocks.plans);
  log(`farm-planning: planning passes after uploads, ms: ${blocks.plans.map((ms) => fmt(ms, 2)).join(" ")}`);
  log(`farm-planning: planning passes after uploads during a pass, ms: ${busyBlocks.plans.map((ms) => fmt(ms, 2)).join(" ")}`);
  return {
    notes: [
      `${fmt(SDISTS, 0)} sdists (${fmt(PROJECTS, 0)} projects × ${SDISTS / PROJECTS} versions) written through the stores (bench-only shortcut); ${targetCount} agents registered first through the services, one wheel target each (CPython 3.6–3.15 × linux_x86_64, linux_aarch64), so every sdist is new for every target and gets a job.`,
      `Then the services open again, as \`startApp\` starts a server (the WAL checkpointed by a worker thread): \`planning.start()\` sees ${targetCount} targets new to it and hands every sdist to the background pass, which runs on a thread of its own with its own connection, in chunks of about 1 ms (one transaction each, whose commit skips the fsync: planned jobs are rows a restart plans again; a WAL checkpoint of its own every 16 chunks), until \`planning.idle()\` resolves. The event loop is watched meanwhile with perf_hooks' monitorEventLoopDelay (1 ms resolution): its longest delay is the longest the server could not answer. The thread reports its chunks itself (its log line).`,
      `Then ${UPLOADS} new sdists through the real ingest path (stage, metadata, transaction, publish), one after another. Ingest's wake-up after each commit runs \`planning.plan()\` before the upload's answer: it reads the sdists stored since its last pass (a primary-key range) and plans them against every active target, ${targetCount} jobs and their events in one transaction. That pass is synchronous, so its duration is the event-loop block it causes; it is timed by wrapping plan() (bench only). The event loop's delay over the uploads includes ingest's own fsyncs, which are not planning.`,
      `Last, the same start again on a copy of the storage, with the ${UPLOADS} uploads sent while the pass runs: an event-loop transaction then waits for the planning thread's chunk under way (write-turns.ts), timed by wrapping WriteTurns.claim (bench only) and included in plan()'s time.`,
      "Before the pass ran on its own thread (2026-12-02 12:49), its chunks ran on the event loop: longest delay 11.7 ms, p99 9.0 ms, each chunk's CPU p99 5.6 ms. Measured chunk by chunk (16:00, load 3–11), the tail was the commit (SQLite's automatic checkpoint inside it: this bench did not run the checkpoint worker; with the worker, the WAL grew to 585 MB during the pass and commits and inserts stalled on the disk) and the CPU taken by other processes, not the planning loop.",
      "With the pass on its own thread, the event loop has no planning work during it: what delays it is waiting for a CPU while the planning thread, its SQLite writes and the kernel's I/O and V8's helper threads hold both cores (the split row: a 1 ms timer's longest gap, with the event loop's time on a CPU and runnable from /proc/PID/schedstat), and its own garbage collection. Tried on 2026-12-03 on a quiet machine, two runs each: the planning thread at nice 10 or 19 (longest delay 11–16 ms and 7–12 ms), as SCHED_IDLE (11–20 ms), or resting 1 ms after every chunk (7–9 ms, the pass twice as long), against 8–35 ms as it is: no setting brought the waits under 5 ms on 2 cores, so none was kept.",
    ],
    rows: [
      { scenario: `background full pass, ${fmt(SDISTS, 0)} sdists × ${targetCount} targets (at start, or a new target)`, result: `${fmt(full.seconds, 1)} s for ${fmt(full.jobs, 0)} jobs; the thread: ${full.threadReport}`, target: "—" },
      {
        scenario: "… event-loop delay meanwhile",
        result: `longest ${fmt(full.loop.max, 1)} ms, p99 ${fmt(full.loop.p99, 1)} ms`,
        target: verdict(`≤ ${TARGET_MS} ms`, full.loop.max <= TARGET_MS),
      },
      {
        scenario: "… the longest gap between a 1 ms timer's ticks, split (the event loop's schedstat)",
        result: `${fmt(full.longestGap.ms, 1)} ms: the event loop running ${fmt(full.longestGap.runningMs, 1)} ms, waiting for a CPU ${fmt(full.longestGap.waitingMs, 1)} ms, the rest neither; the event loop's longest garbage collection during the pass ${fmt(full.longestGap.longestGcMs, 1)} ms`,
        target: "—",
      },
      { scenario: "reference: the event loop watched as long, nothing else running in the process", result: reference(references.idle), target: "—" },
      { scenario: "reference: the same beside one thread that only spins (no SQLite, no I/O)", result: reference(references.spinning), target: "—" },
      { scenario: "plan() again, nothing new", result: `${fmt(idleMs, 2)} ms`, target: "—" },
      {
        scenario: `planning after one new upload (${UPLOADS} uploads, ${targetCount} jobs each): event-loop block`,
        result: `longest ${fmt(longest, 2)} ms, p99 ${fmt(percentile(blocks.plans, 0.99), 2)} ms, p50 ${fmt(percentile(blocks.plans, 0.5), 2)} ms; event loop's delay over the uploads: longest ${fmt(blocks.loop.max, 1)} ms, p99 ${fmt(blocks.loop.p99, 1)} ms`,
        target: verdict(`≤ ${TARGET_MS} ms`, longest <= TARGET_MS),
      },
      {
        scenario: "… of which CPU (the rest: waiting for a CPU or the disk on this shared machine)",
        result: `longest ${fmt(Math.max(...blocks.cpu), 2)} ms, p50 ${fmt(percentile(blocks.cpu, 0.5), 2)} ms`,
        target: "—",
      },
      {
        scenario: `the same ${UPLOADS} uploads during a background full pass: planning's event-loop block`,
        result: `longest ${fmt(busyLongest, 2)} ms, p99 ${fmt(percentile(busyBlocks.plans, 0.99), 2)} ms, p50 ${fmt(percentile(busyBlocks.plans, 0.5), 2)} ms (pass: ${fmt(busy.seconds, 1)} s; event loop's delay over the uploads: longest ${fmt(busyBlocks.loop.max, 1)} ms)`,
        target: verdict(`≤ ${TARGET_MS} ms`, busyLongest <= TARGET_MS),
      },
      {
        scenario: "… of which waiting for the planning thread's chunk (every event-loop transaction)",
        result: `${busyBlocks.turnWaits.length} transactions: longest ${fmt(Math.max(...busyBlocks.turnWaits), 2)} ms, p99 ${fmt(percentile(busyBlocks.turnWaits, 0.99), 2)} ms, p50 ${fmt(percentile(busyBlocks.turnWaits, 0.5), 3)} ms`,
        target: "—",
      },
    ],
  };
}
