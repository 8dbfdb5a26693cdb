import cron from "node-cron";
import type { Backups } from "../services/backups.js";
import type { Checks } from "../services/checks.js";
import type { WakeUps } from "../store/wakeups.js";

export interface Scheduler {
  stop(): Promise<void>;
}

/**
 * Every timed job in one place. Checks start within moments of an upload (a wake-up after each
 * commit), with a periodic sweep as the safety net for changes made by other processes; the
 * full re-verification runs on its cron schedule.
 */
export function startScheduler(checks: Checks, wakeUps: WakeUps, options: { sweepSeconds: number; reverifySchedule: string }, log: (message: string) => void): Scheduler {
  let stopped = false;
  const reverify = cron.schedule(options.reverifySchedule, () => {
    log(`re-verification: ${checks.reverifyAll()} artifact(s) queued`);
  });
  const loop = (async () => {
    while (!stopped) {
      void checks.runDue().catch((error: Error) => log(`checker: ${error.stack ?? error.message}`));
      await wakeUps.wait(options.sweepSeconds * 1000);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await reverify.stop();
      wakeUps.notify();
      await loop;
    },
  };
}

/**
 * Backups on their cron schedule, keeping the newest `keep`. A run still going when the next is
 * due is not doubled; stop() waits for a running one, so the database stays open until it ends.
 */
export function scheduleBackups(backups: Backups, options: { destination: string; schedule: string; keep: number }, log: (message: string) => void): Scheduler {
  let running: Promise<void> | null = null;
  const task = cron.schedule(options.schedule, () => {
    if (running) return;
    running = backups
      .backup(options.destination, options.keep)
      .then((report) => log(`backup: ${report.snapshot} (${report.files} files, ${report.copied} copied, ${report.removed.length} old backup(s) removed)`))
      .catch((error: Error) => log(`backup to ${options.destination} failed: ${error.message}`))
      .finally(() => {
        running = null;
      });
  });
  return {
    async stop() {
      await task.stop();
      await running;
    },
  };
}
