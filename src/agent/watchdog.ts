// The watchdog: a small process the agent starts beside itself, in its own session, holding the
// read end of a pipe whose write end only the agent has. When the agent dies, however it dies
// (SIGKILL included), the kernel closes that end, the watchdog reads end-of-file and sweeps what
// the agent's builds left: their processes and files. A pipe and kill(-1) behave the same on
// Linux and FreeBSD; no Linux-only mechanism (prctl, cgroups) is needed.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { sweepAll, type BuildUser } from "./sandbox.js";

const SELF = fileURLToPath(import.meta.url);
/** How long a starting agent waits for the previous agent's watchdog to finish its sweep. */
const PREVIOUS_SWEEP_MS = 120_000;

interface WatchdogPlan {
  users: BuildUser[];
  workRoot: string;
  pidFile: string;
}

/**
 * Start the watchdog for this agent's build users and build folders. A previous watchdog still
 * sweeping after a crash is waited for first, so it cannot end the new agent's first builds.
 */
export async function startWatchdog(users: BuildUser[], workRoot: string, stateDir: string): Promise<void> {
  const pidFile = path.join(stateDir, "watchdog.pid");
  await previousWatchdogDone(pidFile);
  const plan: WatchdogPlan = { users, workRoot, pidFile };
  const child = spawn(process.execPath, [SELF, JSON.stringify(plan)], { detached: true, stdio: ["pipe", "ignore", "inherit"] });
  writeFileSync(pidFile, String(child.pid), { mode: 0o600 });
  // The agent never writes to the pipe and never waits for the watchdog: it only has to exist.
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
}

async function previousWatchdogDone(pidFile: string): Promise<void> {
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : 0;
  const deadline = Date.now() + PREVIOUS_SWEEP_MS;
  while (pid > 0 && isAlive(pid) && Date.now() < deadline) await sleep(50);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function watch(plan: WatchdogPlan): Promise<void> {
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once("end", resolve));
  try {
    const cleaned = await sweepAll(plan.users, plan.workRoot);
    if (cleaned.length) console.error(`[agent watchdog] the agent stopped; cleaned up ${cleaned.join(", ")}`);
  } finally {
    if (existsSync(plan.pidFile) && readFileSync(plan.pidFile, "utf8").trim() === String(process.pid)) rmSync(plan.pidFile, { force: true });
  }
}

if (process.argv[1] === SELF) {
  watch(JSON.parse(process.argv[2]) as WatchdogPlan).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`[agent watchdog] sweep failed: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
