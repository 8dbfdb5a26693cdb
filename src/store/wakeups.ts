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

  /** Resolve on the next notify() or after `ms`, whichever comes first. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }
}
