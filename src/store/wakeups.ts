/**
 * Wake-ups carry no data: whoever waits re-reads SQLite when woken. The generation counter lets a
 * reader tell whether anything changed since it last looked.
 */
export class WakeUps {
  private waiters = new Set<() => void>();
  private readonly listeners: (() => void)[] = [];
  private generationCount = 0;

  get generation(): number {
    return this.generationCount;
  }

  /** Run `listener` at every notify(), before any waiter wakes: for work that must follow a change at once (planning jobs for a stored sdist). */
  onNotify(listener: () => void): void {
    this.listeners.push(listener);
  }

  notify(): void {
    this.generationCount++;
    for (const listener of this.listeners) listener();
    const woken = this.waiters;
    this.waiters = new Set();
    for (const wake of woken) wake();
  }

  /**
   * Resolve on the next notify(), after `ms`, or when `signal` aborts, whichever comes first; the
   * timer and the waiter go with it, so a waiter whose client left keeps nothing behind.
   */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal?.addEventListener("abort", wake, { once: true });
      this.waiters.add(wake);
    });
  }

  /** How many wait() calls are pending: lets a test prove that a follower that left waits no more. */
  get waiting(): number {
    return this.waiters.size;
  }
}
