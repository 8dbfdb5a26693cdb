// At most two password hashes at once (the rest of libuv's pool stays for file reads), in
// arrival order, and a bounded queue: past it, a sign-in is refused with 503 instead of waiting.
import { describe, expect, test } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { HashingQueue } from "../../src/services/hashing-queue.js";

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("hashing queue", () => {
  test("two run at once, the rest wait their turn in order", async () => {
    const queue = new HashingQueue();
    const gates = Array.from({ length: 5 }, gate);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const runs = gates.map((g, index) =>
      queue.run(async () => {
        started.push(index);
        most = Math.max(most, ++running);
        await g.promise;
        running--;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1]);
    for (const g of gates) g.open();
    await Promise.all(runs);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
  });

  test("past 256 waiting, a sign-in is refused with 503 and Retry-After", async () => {
    const queue = new HashingQueue();
    const blocker = gate();
    const runs = Array.from({ length: 2 + 256 }, () => queue.run(() => blocker.promise));
    const refused = await queue.run(async () => undefined).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect([(refused as AppError).status, (refused as AppError).retryAfterSeconds]).toEqual([503, 1]);
    blocker.open();
    await Promise.all(runs);
  });
});
