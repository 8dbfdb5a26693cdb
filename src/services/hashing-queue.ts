import { AppError } from "../core/errors.js";

/**
 * scrypt runs on libuv's thread pool (4 threads), which file reads and downloads share. At most two
 * hashes run at once, so a flood of sign-ins leaves threads for everyone else; a queue past its
 * bound is refused rather than left to grow.
 */
const MAX_RUNNING = 2;
const MAX_WAITING = 256;

export class HashingQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= MAX_RUNNING) {
      if (this.waiting.length >= MAX_WAITING) throw new AppError(503, "Too many sign-ins at once: try again in a moment, or use an API token", 1);
      // Woken with the slot of the hash that finished: `running` already counts it.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
