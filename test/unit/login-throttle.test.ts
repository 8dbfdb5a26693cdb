// The lockout arithmetic on a fake clock: doubling lockouts, forgotten typos, bounded memory.
import { describe, expect, test } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { LoginThrottle } from "../../src/services/login-throttle.js";

function throttle(clock: { now: number }) {
  return new LoginThrottle({ max_failures_per_user: 2, max_failures_per_address: 1_000_000, lockout_seconds: 10 }, () => clock.now);
}

function retryAfter(limiter: LoginThrottle, name: string, address = "a"): number | null {
  try {
    limiter.check(name, address);
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(429);
    return (error as AppError).retryAfterSeconds!;
  }
}

describe("login throttle", () => {
  test("each lockout of a name lasts twice the one before", () => {
    const clock = { now: 0 };
    const limiter = throttle(clock);
    const lockouts: number[] = [];
    for (let round = 0; round < 3; round++) {
      limiter.failed("alice", "a");
      limiter.failed("alice", "a");
      lockouts.push(retryAfter(limiter, "alice")!);
      clock.now += lockouts.at(-1)! * 1000;
      expect(retryAfter(limiter, "alice")).toBeNull();
    }
    expect(lockouts).toEqual([10, 20, 40]);
  });

  test("failures a lockout period apart are forgotten; a success clears the name", () => {
    const clock = { now: 0 };
    const limiter = throttle(clock);
    limiter.failed("bob", "a");
    clock.now += 11_000;
    limiter.failed("bob", "a");
    expect(retryAfter(limiter, "bob")).toBeNull();
    limiter.succeeded("bob");
    limiter.failed("bob", "a");
    expect(retryAfter(limiter, "bob")).toBeNull();
  });

  test("names differing in case share one count", () => {
    const limiter = throttle({ now: 0 });
    limiter.failed("Carol", "a");
    limiter.failed("carol", "a");
    expect(retryAfter(limiter, "CAROL")).toBe(10);
  });

  test("memory is bounded: the least recently failed name is forgotten first", () => {
    const limiter = throttle({ now: 0 });
    limiter.failed("victim", "a");
    limiter.failed("victim", "a");
    expect(retryAfter(limiter, "victim")).toBe(10);
    for (let index = 0; index < 10_000; index++) limiter.failed(`spray${index}`, "a");
    expect(retryAfter(limiter, "victim")).toBeNull();
  });
});
