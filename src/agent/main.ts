import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { buildJob, removeWorkDir } from "./build.js";
import { FarmClient, ServerRefusal } from "./client.js";
import { interpreters, type Interpreter } from "./interpreters.js";
import type { LeasedJobMessage } from "./messages.js";

export interface AgentOptions {
  server: string;
  name: string;
  pythons: string[];
  enrolmentSecret?: string;
  /** Where the agent keeps its token between runs. */
  stateDir: string;
}

type Log = (message: string) => void;

const MAX_BACKOFF_MS = 10_000;
const FLUSH_MS = 1_000;

/** register → report targets → lease → build → upload, for ever; rides out server restarts. */
export async function runAgent(options: AgentOptions, log: Log = (message) => console.error(`[agent ${options.name}] ${message}`)): Promise<never> {
  const client = new FarmClient(options.server, await token(options, log));
  const found = await interpreters(options.pythons);
  const byTarget = new Map<string, Interpreter>();
  const keys = await retrying(() => client.setTargets(found.flatMap((interpreter) => interpreter.targets)), log);
  found.flatMap((interpreter) => interpreter.targets.map(() => interpreter)).forEach((interpreter, index) => byTarget.set(keys[index], interpreter));
  log(`building for ${keys.join(", ")}`);
  for (;;) {
    const job = await retrying(() => client.lease(), log);
    if (job) await runJob(client, job, byTarget.get(job.target.key)!, log);
  }
}

async function token(options: AgentOptions, log: Log): Promise<string> {
  const stateFile = path.join(options.stateDir, `${options.name}.json`);
  try {
    return JSON.parse(readFileSync(stateFile, "utf8")).token;
  } catch {
    if (!options.enrolmentSecret) throw new Error(`no token in ${stateFile}: the first run needs --enrolment-secret (from \`pydepot agents enrol\`)`);
  }
  const client = new FarmClient(options.server);
  const fresh = await retrying(() => client.register(options.name, options.enrolmentSecret!), log);
  mkdirSync(options.stateDir, { recursive: true });
  writeFileSync(stateFile, JSON.stringify({ token: fresh }), { mode: 0o600 });
  log(`registered as ${options.name}`);
  return fresh;
}

async function runJob(client: FarmClient, job: LeasedJobMessage, interpreter: Interpreter, log: Log): Promise<void> {
  log(`job ${job.id}: ${job.project} ${job.version} for ${job.target.key}`);
  const lines: { at: string; stream: string; text: string }[] = [];
  const abort = new AbortController();
  const flush = async () => {
    const batch = lines.splice(0);
    try {
      await client.log(job.id, batch);
    } catch (error) {
      if (error instanceof ServerRefusal && error.status === 409) return abort.abort();
      lines.unshift(...batch);
      // Unreachable or failing: say so, so that the last flush is retried like the result.
      if (!(error instanceof ServerRefusal) || error.status >= 500) throw error;
    }
  };
  // A beat that fails is followed by the next one; the lines wait.
  const heartbeat = setInterval(() => void flush().catch(() => undefined), FLUSH_MS);
  let outcome;
  try {
    outcome = await buildJob(job, interpreter, client, (stream, text) => lines.push({ at: new Date().toISOString(), stream, text }), abort.signal);
  } catch (error) {
    outcome = { status: "failed" as const, reason: (error as Error).message, files: [], workDir: null };
  } finally {
    clearInterval(heartbeat);
  }
  try {
    await retrying(flush, log);
    if (abort.signal.aborted) return log(`job ${job.id}: dropped, the server took it back`);
    await retrying(() => client.result(job.id, outcome.status, outcome.reason, outcome.files), log);
    log(`job ${job.id}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ""}`);
  } catch (error) {
    log(`job ${job.id}: result not accepted: ${(error as Error).message}`);
  } finally {
    if (outcome.workDir) await removeWorkDir(outcome.workDir);
  }
}

/** Retry while the server is unreachable or failing (5xx); a refusal (4xx) is final. */
async function retrying<T>(attempt: () => Promise<T>, log: Log): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof ServerRefusal && error.status < 500) throw error;
      log(`server unavailable (${(error as Error).message}); retrying in ${delay} ms`);
      await sleep(delay);
    }
  }
}
