import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AppError } from "../core/errors.js";
import { buildJob, endJob, type Slot } from "./build.js";
import { FarmClient, ServerRefusal } from "./client.js";
import { interpreters, type Interpreter } from "./interpreters.js";
import { JobLog } from "./job-log.js";
import type { LeasedJobMessage } from "./messages.js";
import { cannotRun, resolveBuildUser, sweepAll, type BuildUser } from "./sandbox.js";
import { startWatchdog } from "./watchdog.js";

export interface AgentOptions {
  server: string;
  name: string;
  pythons: string[];
  enrolmentSecret?: string;
  /** Where the agent keeps its token between runs (mode 0700, the token file 0600). */
  stateDir: string;
  /** One unprivileged user per build slot. */
  buildUsers: string[];
  /** Run builds as the agent's own user: they can then read its token. */
  buildAsAgentUser: boolean;
  /** Where build folders are made: every build user must be able to reach it. */
  workDir: string;
}

type Log = (message: string) => void;

const MAX_BACKOFF_MS = 10_000;
const FLUSH_MS = 1_000;

/**
 * Check users and interpreters → sweep what a previous run left → register → start a session
 * (targets, slots) → in each slot: lease → build → upload, for ever; rides out server restarts.
 */
export async function runAgent(options: AgentOptions, log: Log = (message) => console.error(`[agent ${options.name}] ${message}`)): Promise<never> {
  const users = await buildUsers(options, log);
  const slots: Slot[] = users.length ? users.map((user) => ({ user, workRoot: options.workDir })) : [{ user: null, workRoot: options.workDir }];
  const found = await interpreters(options.pythons, (executable) => runnableBySlots(slots, executable), log);
  prepareStateDir(options.stateDir);
  if (!existsSync(stateFile(options)) && !options.enrolmentSecret) {
    throw new AppError(2, `no token in ${stateFile(options)}: the first run needs an enrolment secret from \`pydepot agents enrol\` (--enrolment-secret-file FILE, - for stdin, or $PYDEPOT_ENROLMENT_SECRET)`);
  }
  // Registering first: a refused enrolment secret is the operator's one line, nothing else.
  const client = new FarmClient(options.server, await token(options, log));
  mkdirSync(options.workDir, { recursive: true, mode: 0o711 });
  await startWatchdog(users, options.workDir, options.stateDir);
  const cleaned = await sweepAll(users, options.workDir);
  log(cleaned.length ? `cleaned up what a previous run left: ${cleaned.join(", ")}` : "nothing left behind by a previous run");
  try {
    const byTarget = new Map<string, Interpreter>();
    const session = await retrying(() => client.startSession(found.flatMap((interpreter) => interpreter.targets), slots.length), log);
    found.flatMap((interpreter) => interpreter.targets.map(() => interpreter)).forEach((interpreter, index) => byTarget.set(session.targets[index], interpreter));
    if (session.returned.length) log(`returned the jobs a previous run held to the queue: #${session.returned.join(", #")}`);
    if (session.failed.length) log(`the jobs a previous run held were out of attempts and failed: #${session.failed.join(", #")}`);
    log(`building for ${session.targets.join(", ")} in ${slots.length} slot(s)`);
    // Slots never end; the first refusal (a revoked token) ends the agent.
    return await Promise.race(slots.map((slot) => runSlot(client, slot, byTarget, log)));
  } catch (error) {
    if (error instanceof ServerRefusal) throw new AppError(1, `the server refused: ${error.message}`);
    throw error;
  }
}

/** The build users of the slots, or none with --build-as-agent-user (said loudly). */
async function buildUsers(options: AgentOptions, log: Log): Promise<BuildUser[]> {
  if (options.buildAsAgentUser) {
    if (options.buildUsers.length) throw new AppError(2, "--build-as-agent-user and --build-user exclude each other: pick one");
    const who = process.getuid?.() === 0 ? "the agent's own user, ROOT" : "the agent's own user";
    log(`WARNING: --build-as-agent-user: builds run as ${who}. Code from any upload can read this agent's token and state, ` +
      "and a build that leaves its process group may outlive its job. Use --build-user NAME (one unprivileged user per slot) on any shared farm.");
    return [];
  }
  if (options.buildUsers.length === 0) {
    throw new AppError(2, "no --build-user: builds run code from uploads and must not run as the agent's user; create a user per slot " +
      "(`useradd --system --no-create-home --user-group pydepot-build1`) and pass --build-user pydepot-build1, or --build-as-agent-user to accept the risk");
  }
  if (new Set(options.buildUsers).size !== options.buildUsers.length) throw new AppError(2, "each --build-user may be given once: every slot needs a user of its own");
  const users = [];
  for (const name of options.buildUsers) users.push(await resolveBuildUser(name));
  return users;
}

async function runnableBySlots(slots: Slot[], executable: string): Promise<string | null> {
  for (const slot of slots) {
    const problem = await cannotRun(slot.user, executable);
    if (problem) return problem;
  }
  return null;
}

/** The state folder holds the agent's token: its user's alone. */
function prepareStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
}

function stateFile(options: AgentOptions): string {
  return path.join(options.stateDir, `${options.name}.json`);
}

/** The token kept from an earlier run, or a fresh one for the enrolment secret (checked present before). */
async function token(options: AgentOptions, log: Log): Promise<string> {
  if (existsSync(stateFile(options))) {
    chmodSync(stateFile(options), 0o600);
    return JSON.parse(readFileSync(stateFile(options), "utf8")).token;
  }
  const client = new FarmClient(options.server);
  let fresh: string;
  try {
    fresh = await retrying(() => client.register(options.name, options.enrolmentSecret!), log);
  } catch (error) {
    if (!(error instanceof ServerRefusal)) throw error;
    throw new AppError(2, `the server refused to register ${options.name}: ${error.message}`);
  }
  writeFileSync(stateFile(options), JSON.stringify({ token: fresh }), { mode: 0o600 });
  log(`registered as ${options.name}`);
  return fresh;
}

async function runSlot(client: FarmClient, slot: Slot, byTarget: Map<string, Interpreter>, log: Log): Promise<never> {
  for (;;) {
    const job = await retrying(() => client.lease(), log);
    if (job) await runJob(client, job, byTarget.get(job.target.key)!, slot, log);
  }
}

async function runJob(client: FarmClient, job: LeasedJobMessage, interpreter: Interpreter, slot: Slot, log: Log): Promise<void> {
  log(`job ${job.id}: ${job.project} ${job.version} for ${job.target.key}${slot.user ? ` as ${slot.user.name}` : ""}`);
  const abort = new AbortController();
  const jobLog = new JobLog(client, job, () => abort.abort(), log);
  // A beat that fails is followed by the next one; the lines wait.
  const heartbeat = setInterval(() => void jobLog.beat().catch(() => undefined), FLUSH_MS);
  let outcome;
  try {
    outcome = await buildJob(job, interpreter, client, slot, (stream, text) => jobLog.add(stream, text), abort.signal);
  } catch (error) {
    outcome = { status: "failed" as const, reason: (error as Error).message, files: [], workDir: null };
  } finally {
    clearInterval(heartbeat);
  }
  try {
    // The last lines are retried like the result.
    await retrying(() => jobLog.send(), log);
    if (abort.signal.aborted) return log(`job ${job.id}: dropped, the server took it back`);
    await retrying(() => client.result(job, outcome.status, outcome.reason, outcome.files), log);
    log(`job ${job.id}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ""}`);
  } catch (error) {
    log(`job ${job.id}: result not accepted: ${(error as Error).message}`);
  } finally {
    await endJob(outcome.workDir, slot).catch((error: Error) => log(`job ${job.id}: clean-up failed: ${error.message}`));
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
