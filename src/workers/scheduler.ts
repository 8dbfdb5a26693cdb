import cron from "node-cron";
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
