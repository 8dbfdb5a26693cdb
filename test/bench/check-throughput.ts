// check-throughput: 200 pending artifacts, one node allowing 2 checks at once (issue 4, "Speed":
// artifacts verified per minute). The wheels go in through the real ingest before the app
// starts; the app's scheduler then works through them by itself. Bounded: after
// BENCH_CHECK_WINDOW_SECONDS the rate so far is reported.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Services } from "../../src/app.js";
import type { Principal } from "../../src/services/access.js";
import { startChecker } from "./checker.js";
import { fmt, log, median } from "./machine.js";
import { openServices, plan, populateByIngest } from "./populate.js";
import type { ScenarioResult } from "./report.js";
import { wheelFilename } from "./wheels.js";

/** The benchmark reads verdicts as the operator would. */
const BENCH: Principal = { kind: "system", name: "bench" };

const ARTIFACTS = 200;
const PARALLEL = 2;
/** All 200 take about 3.5 minutes on this 2-core machine; a slower one stops here, inside the ~10 minutes of `npm run bench`. */
const WINDOW_SECONDS = Number(process.env.BENCH_CHECK_WINDOW_SECONDS ?? 240);
const POLL_MS = 500;

interface Progress {
  verified: number;
  failed: number;
  running: number;
}

export async function checkThroughputScenario(work: string): Promise<ScenarioResult> {
  const storage = path.join(work, "storage");
  const specs = plan(ARTIFACTS, 1).map((spec) => ({ ...spec, project: spec.project.replace("bench-project", "bench-throughput") }));
  const services = openServices(storage);
  await populateByIngest(services, specs).finally(() => services.close());
  const filenames = specs.map(wheelFilename);
  log(`check-throughput: ${ARTIFACTS} wheels pending; checking for at most ${WINDOW_SECONDS} s`);
  const bench = await startChecker(work, storage, PARALLEL);
  const cpuBefore = process.cpuUsage();
  const verdictTimes: number[] = [];
  let mostRunning = 0;
  const progress: Progress = { verified: 0, failed: 0, running: 0 };
  let unsettled = filenames;
  let pollingMs = 0;
  let checkMs: number[];
  try {
    const deadline = bench.startedAt + WINDOW_SECONDS * 1000;
    while (unsettled.length > 0 && performance.now() < deadline) {
      await sleep(POLL_MS);
      const now = performance.now();
      const next = look(bench.app.services, unsettled);
      pollingMs += performance.now() - now;
      for (let done = 0; done < next.verified + next.failed; done++) verdictTimes.push(now - bench.startedAt);
      progress.verified += next.verified;
      progress.failed += next.failed;
      mostRunning = Math.max(mostRunning, next.running);
      unsettled = next.unsettled;
    }
    const finished = filenames.flatMap((filename) => bench.app.services.checks.checksOf(BENCH, filename).checks).filter((check) => check.finishedAt);
    checkMs = finished.map((check) => Date.parse(check.finishedAt!) - Date.parse(check.startedAt!));
  } finally {
    await bench.stop();
  }
  const appCpu = process.cpuUsage(cpuBefore);
  const elapsed = (verdictTimes.length === ARTIFACTS ? verdictTimes.at(-1)! : WINDOW_SECONDS * 1000) / 1000;
  return report(progress, verdictTimes, elapsed, mostRunning, checkMs, (appCpu.user + appCpu.system) / 1e6, pollingMs);
}

/** Which of `filenames` got a verdict since the last look, and how many checks run now, read through the services. */
function look(services: Services, filenames: string[]): Progress & { unsettled: string[] } {
  const progress = { verified: 0, failed: 0, running: 0, unsettled: [] as string[] };
  for (const filename of filenames) {
    const { file, checks } = services.checks.checksOf(BENCH, filename);
    if (file.verification === "verified") progress.verified++;
    else if (file.verification === "failed") progress.failed++;
    else progress.unsettled.push(filename);
    if (checks[0]?.status === "running") progress.running++;
  }
  return progress;
}

function report(progress: Progress, verdictTimes: number[], elapsedSeconds: number, mostRunning: number, checkMs: number[], appCpuSeconds: number, pollingMs: number): ScenarioResult {
  const busy = checkMs.reduce((sum, ms) => sum + ms, 0) / 1000 / (PARALLEL * elapsedSeconds);
  const all = verdictTimes.length === ARTIFACTS;
  const perMinute = (progress.verified / elapsedSeconds) * 60;
  const steady = verdictTimes.length > 1 ? ((verdictTimes.length - 1) / ((verdictTimes.at(-1)! - verdictTimes[0]) / 1000)) * 60 : NaN;
  return {
    notes: [
      `${ARTIFACTS} small pure wheels (bench/wheels.ts, one project each) ingested through the real ingest before the app starts; the node (real sshd, Python 3.11) allows ${PARALLEL} checks at once. The app (in the bench process) starts its scheduler and is left alone; progress is read through the services every ${POLL_MS} ms.`,
      all
        ? `All ${ARTIFACTS} settled after ${fmt(elapsedSeconds, 0)} s (from the app's start, including the first probe of the node).`
        : `Bounded: ${ARTIFACTS} would take longer than the ${WINDOW_SECONDS} s window (BENCH_CHECK_WINDOW_SECONDS), so the rate is over that window, from the app's start (including the first probe of the node): ${progress.verified + progress.failed} of ${ARTIFACTS} settled.`,
      `On this 2-core machine the node's interpreters, sshd, the app and the bench share the same cores: ${PARALLEL} checks at once are CPU-bound (see the load figure above), so a check takes longer here than alone (check-latency).`,
      `The bench process (the app: HTTP for the node's downloads and index pages, scheduling, the SSH client; plus this polling, ${fmt(pollingMs / 1000, 1)} s of it) used ${fmt(appCpuSeconds, 1)} s of CPU in all, ${fmt((appCpuSeconds * 1000) / Math.max(1, verdictTimes.length), 0)} ms per check.`,
    ],
    rows: [
      { scenario: `artifacts verified per minute (${PARALLEL} parallel checks, one node)`, result: `${fmt(perMinute, 1)} per minute (${progress.verified} verified in ${fmt(elapsedSeconds, 0)} s)`, target: "—" },
      { scenario: "… steady state (first verdict → last verdict)", result: `${fmt(steady, 1)} per minute`, target: "—" },
      { scenario: "failed checks", result: `${progress.failed}`, target: "0" },
      { scenario: "most checks seen running at once", result: `${mostRunning}`, target: `≤ ${PARALLEL}` },
      { scenario: "one check, started → verdict, under this load", result: `median ${fmt(median(checkMs), 0)} ms (${checkMs.length} checks)`, target: "—" },
      { scenario: `the node's ${PARALLEL} check slots busy (sum of check times / (${PARALLEL} × elapsed))`, result: `${fmt(busy * 100, 0)} %`, target: "—" },
    ],
  };
}
