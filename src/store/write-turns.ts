/** Index of the event loop's writers (waiting or in a transaction) in the shared flags. */
const LOOP_WRITERS = 0;
/** Index of the flag that is 1 while the worker holds its turn. */
const WORKER_WRITING = 1;
/** Longest wait for the other side, in case it died holding its turn: SQLite's busy_timeout takes over after it. */
const LONGEST_WAIT_MS = 1_000;

/**
 * Turn-taking for SQLite's write lock between the event loop's connection and a worker thread's
 * (the background planning pass), over shared memory. SQLite's own busy handler polls by sleeping
 * 1, 2, 5, 10 … ms: against a worker that commits a chunk every few milliseconds the event loop
 * would lose most polls and sit out several chunks. With turns, the worker starts no chunk while
 * the event loop writes or waits to, and the event loop waits for the chunk under way at most,
 * woken the moment it commits. The event loop always goes first: a busy server slows the pass,
 * never the other way round.
 */
export class WriteTurns {
  private readonly flags: Int32Array;

  constructor(readonly memory: SharedArrayBuffer = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT)) {
    this.flags = new Int32Array(memory);
  }

  /** The event loop's side, before its transaction begins: the worker finishes its chunk and starts no other. */
  claim(): void {
    Atomics.add(this.flags, LOOP_WRITERS, 1);
    // The worker raises its flag before it looks at ours, so one of the two always sees the other.
    Atomics.wait(this.flags, WORKER_WRITING, 1, LONGEST_WAIT_MS);
  }

  /** The event loop's side, after its transaction ended. */
  release(): void {
    if (Atomics.sub(this.flags, LOOP_WRITERS, 1) === 1) Atomics.notify(this.flags, LOOP_WRITERS);
  }

  /** The worker's side, before a chunk: wait while the event loop writes, then hold the turn. */
  enter(): void {
    for (;;) {
      Atomics.store(this.flags, WORKER_WRITING, 1);
      const writers = Atomics.load(this.flags, LOOP_WRITERS);
      if (writers === 0) return;
      this.leave();
      Atomics.wait(this.flags, LOOP_WRITERS, writers, LONGEST_WAIT_MS);
    }
  }

  /** The worker's side, during a chunk: whether the event loop waits for it to commit. */
  loopWaiting(): boolean {
    return Atomics.load(this.flags, LOOP_WRITERS) > 0;
  }

  /** The worker's side, after its chunk committed (or failed). */
  leave(): void {
    Atomics.store(this.flags, WORKER_WRITING, 0);
    Atomics.notify(this.flags, WORKER_WRITING);
  }
}
