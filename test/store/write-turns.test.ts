// The event loop and the background planning thread take turns for SQLite's write lock: each
// side waits while the other holds its turn. Two real threads over shared memory; the order of
// what each side saw is the assertion (a log in the same shared memory), not a duration.
import { once } from "node:events";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { describe, expect, test } from "vitest";
import { WriteTurns } from "../../src/store/write-turns.js";

/** Shared log after the turns' two flags: [2] the worker's step, set inside and after its turn. */
const STEP = 2;
const INSIDE = 1;
const LEFT = 2;

/**
 * A worker that takes its turn with the same module (loaded through tsx's API, as
 * workers/planning-thread.ts does from source), marks INSIDE, holds the turn while the main
 * thread tries to claim, then marks LEFT and leaves. It says "loaded" before it tries.
 */
function worker(memory: SharedArrayBuffer, holding = "pause(200);"): Worker {
  const api = path.join(path.dirname(createRequire(import.meta.url).resolve("tsx/esm/api")), "index.mjs");
  const module = new URL("../../src/store/write-turns.ts", import.meta.url).href;
  const source = `
    const { workerData, parentPort } = require("node:worker_threads");
    const flags = new Int32Array(workerData.memory);
    const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    import(${JSON.stringify(pathToFileURL(api).href)}).then(({ register }) => { register(); return import(${JSON.stringify(module)}); }).then(({ WriteTurns }) => {
      const turns = new WriteTurns(workerData.memory);
      parentPort.postMessage("loaded");
      turns.enter();
      Atomics.store(flags, ${STEP}, ${INSIDE});
      Atomics.notify(flags, ${STEP});
      ${holding}
      Atomics.store(flags, ${STEP}, ${LEFT});
      turns.leave();
    });
  `;
  return new Worker(source, { eval: true, workerData: { memory } });
}

const exited = (thread: Worker) => new Promise<number>((resolve) => thread.once("exit", resolve));

describe("write turns", () => {
  test("the event loop's claim waits for the worker's turn to end", async () => {
    const turns = new WriteTurns(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
    const flags = new Int32Array(turns.memory);
    const thread = worker(turns.memory);
    await once(thread, "message");
    Atomics.wait(flags, STEP, 0, 60_000);
    expect(Atomics.load(flags, STEP)).toBe(INSIDE);
    turns.claim();
    const seen = Atomics.load(flags, STEP);
    turns.release();
    expect(seen).toBe(LEFT);
    expect(await exited(thread)).toBe(0);
  });

  test("the worker, in its turn, sees the event loop waiting for it, and can end its chunk early", async () => {
    const turns = new WriteTurns(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
    const flags = new Int32Array(turns.memory);
    // As a planning chunk: it would hold its turn for 60 s, but ends once the event loop waits.
    const thread = worker(turns.memory, "const end = Date.now() + 60000; while (Date.now() < end && !turns.loopWaiting());");
    await once(thread, "message");
    Atomics.wait(flags, STEP, 0, 60_000);
    expect(turns.loopWaiting()).toBe(false);
    turns.claim();
    const seen = Atomics.load(flags, STEP);
    turns.release();
    expect(seen).toBe(LEFT);
    expect(await exited(thread)).toBe(0);
  });

  test("the worker starts no turn while the event loop holds one", async () => {
    const turns = new WriteTurns(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
    const flags = new Int32Array(turns.memory);
    turns.claim();
    const thread = worker(turns.memory);
    await once(thread, "message");
    // Give the worker every chance to (wrongly) enter while the claim is held.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const whileClaimed = Atomics.load(flags, STEP);
    turns.release();
    expect(whileClaimed).toBe(0);
    expect(await exited(thread)).toBe(0);
    expect(Atomics.load(flags, STEP)).toBe(LEFT);
  });
});
